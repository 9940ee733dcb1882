//! Log lines split into a skeleton and variables, as a segment's data file
//! stores them (format: `docs/format/logs-segment.md`, "Line encoding").
//!
//! Lines of one service repeat their text and differ in the numbers and ids
//! inside it. [`split`] replaces every run of two or more decimal digits and
//! every long hexadecimal id by a marker in the line's **skeleton** and
//! appends the value, in binary, to its **variables**; [`join`] puts the line
//! back together, byte for byte. The data file stores skeletons with
//! Parquet's dictionary encoding, so each distinct skeleton of a row group is
//! written once and each row holds only its index, and the variables as
//! plain bytes under zstd: a timestamp's or counter's digits take their
//! binary size instead of one byte each, and an id half as many bytes.
//!
//! Markers are bytes that never occur in UTF-8 (`0xF8..=0xFC`), each followed
//! by a width byte, so a skeleton is the line's own text everywhere else:
//!
//! | marker | width byte | variable bytes |
//! |---|---|---|
//! | `0xF8` digits | digits, 1–19 | the value as an unsigned LEB128 varint; printed zero-padded to the width |
//! | `0xF9` hex, lower case | hex digits, 8–255 | two digits per byte, high nibble first; an odd count leaves the last low nibble 0 |
//! | `0xFA` hex, upper case | as `0xF9` | as `0xF9` |
//! | `0xFB` UUID, lower case | 36 | 16 bytes, the 32 hex digits two per byte |
//! | `0xFC` UUID, upper case | 36 | as `0xFB` |
//!
//! [`split`] takes as a UUID 36 characters `8-4-4-4-12` of `0-9a-f` (or of
//! `0-9A-F`) joined by `-`, holding a digit and bounded by characters outside
//! `0-9a-zA-Z`: taken word by word, its 4-digit groups would stay in the
//! skeleton and make nearly every line that holds one a skeleton of its own.
//! It takes as hex a run of 8 to 255 characters of `0-9a-f` (or of
//! `0-9A-F`) holding at least one digit and one letter, bounded by
//! characters outside `0-9a-zA-Z` (or preceded by `0x`); a run of 20 or more digits is cut into
//! pieces of at most 19, so every value fits in 64 bits. Other text,
//! including single digits, stays in the skeleton.

use super::codec::{put_uvarint, uvarint_len};

/// Marker of a run of decimal digits.
pub const DIGITS: u8 = 0xF8;
/// Marker of a lower-case hexadecimal id.
pub const HEX_LOWER: u8 = 0xF9;
/// Marker of an upper-case hexadecimal id.
pub const HEX_UPPER: u8 = 0xFA;
/// Marker of a UUID (`8-4-4-4-12` hex digits), lower case.
pub const UUID_LOWER: u8 = 0xFB;
/// Marker of a UUID, upper case.
pub const UUID_UPPER: u8 = 0xFC;
/// The last marker byte.
const LAST_MARKER: u8 = UUID_UPPER;
/// Characters of a UUID, its width byte.
const UUID_CHARS: u8 = 36;
/// Bytes of a UUID's variable.
const UUID_BYTES: usize = 16;
/// Where a UUID's groups end (the dashes).
const UUID_DASHES: [usize; 4] = [8, 13, 18, 23];

/// Shortest run of digits taken out of the skeleton.
const MIN_DIGITS: usize = 2;
/// Longest run of digits one variable holds (`10^19 - 1 < 2^64`).
const MAX_DIGITS: usize = 19;
/// Shortest hexadecimal id taken out of the skeleton.
const MIN_HEX: usize = 8;
/// Longest hexadecimal id one variable holds (its width is one byte).
const MAX_HEX: usize = 255;

/// Why a skeleton and its variables do not make a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("skeleton byte {at}: marker {marker:#04x} without its width byte")]
    MissingWidth { at: usize, marker: u8 },
    #[error("skeleton byte {at}: width {width} is out of range for marker {marker:#04x}")]
    BadWidth { at: usize, marker: u8, width: u8 },
    #[error("variables byte {at}: truncated value")]
    Truncated { at: usize },
    #[error("variables byte {at}: value {value} has more than {width} digits")]
    TooWide { at: usize, value: u64, width: u8 },
    #[error("{left} variable bytes left over after the skeleton")]
    LeftOver { left: usize },
}

/// Appends the skeleton of `line` to `skel` and its variables to `vars`.
///
/// Every variable holds a digit, so only the words (runs of `0-9a-zA-Z`)
/// around digits are looked at: the digits are found 16 bytes at a time and
/// the text between them is copied in one piece.
pub fn split(line: &[u8], skel: &mut Vec<u8>, vars: &mut Vec<u8>) {
    let n = line.len();
    // line[..done] is in the skeleton; words before `from` are handled.
    let (mut done, mut from) = (0, 0);
    while let Some(p) = next_digit(line, from) {
        let mut ws = p;
        while ws > from && line[ws - 1].is_ascii_alphanumeric() {
            ws -= 1;
        }
        if let Some(at) = uuid_around(line, ws, from) {
            skel.extend_from_slice(&line[done..at]);
            let upper = line[at..at + usize::from(UUID_CHARS)]
                .iter()
                .any(u8::is_ascii_uppercase);
            skel.push(if upper { UUID_UPPER } else { UUID_LOWER });
            skel.push(UUID_CHARS);
            put_uuid(&line[at..at + usize::from(UUID_CHARS)], vars);
            done = at + usize::from(UUID_CHARS);
            from = done;
            continue;
        }
        let mut we = p + 1;
        while we < n && line[we].is_ascii_alphanumeric() {
            we += 1;
        }
        split_word(line, ws, we, &mut done, skel, vars);
        from = we;
    }
    skel.extend_from_slice(&line[done..]);
}

/// The start of the UUID whose group is the word starting at `ws`, if
/// there is one starting at or after `from`: 36 characters `8-4-4-4-12` of
/// `0-9a-f` or of `0-9A-F` (not both cases), bounded by characters outside
/// `0-9a-zA-Z`.
fn uuid_around(line: &[u8], ws: usize, from: usize) -> Option<usize> {
    // The word is the UUID's first group, or follows one of its dashes.
    [0, 9, 14, 19, 24]
        .into_iter()
        .filter_map(|back| ws.checked_sub(back))
        .find(|&at| at >= from && is_uuid(line, at))
}

fn is_uuid(line: &[u8], at: usize) -> bool {
    let end = at + usize::from(UUID_CHARS);
    let Some(u) = line.get(at..end) else {
        return false;
    };
    if (at > 0 && line[at - 1].is_ascii_alphanumeric())
        || line.get(end).is_some_and(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let (mut lower, mut upper) = (false, false);
    for (k, &c) in u.iter().enumerate() {
        match c {
            b'-' if UUID_DASHES.contains(&k) => continue,
            _ if UUID_DASHES.contains(&k) => return false,
            b'0'..=b'9' => {}
            b'a'..=b'f' => lower = true,
            b'A'..=b'F' => upper = true,
            _ => return false,
        }
    }
    !(lower && upper)
}

/// A UUID's 32 hex digits, two per byte.
fn put_uuid(u: &[u8], vars: &mut Vec<u8>) {
    let mut digits = u.iter().filter(|&&c| c != b'-');
    while let (Some(&hi), Some(&lo)) = (digits.next(), digits.next()) {
        vars.push(nibble(hi) << 4 | nibble(lo));
    }
}

/// The variables of the word `line[ws..we]`, which holds a digit: one hex id
/// (the word, or what follows a `0x` in it), else its runs of digits.
fn split_word(
    line: &[u8],
    ws: usize,
    we: usize,
    done: &mut usize,
    skel: &mut Vec<u8>,
    vars: &mut Vec<u8>,
) {
    // The longest run of hex characters that ends the word (none in a word
    // too short to hold an id).
    let mut hs = we;
    let (mut digit, mut lower, mut upper) = (false, false, false);
    while we - ws >= MIN_HEX && hs > ws && line[hs - 1].is_ascii_hexdigit() {
        hs -= 1;
        match line[hs] {
            b'0'..=b'9' => digit = true,
            b'a'..=b'f' => lower = true,
            _ => upper = true,
        }
    }
    let left = hs == ws || (hs >= ws + 2 && line[hs - 1] | 0x20 == b'x' && line[hs - 2] == b'0');
    let len = we - hs;
    let hex = left && digit && (lower != upper) && (MIN_HEX..=MAX_HEX).contains(&len);
    // Digits before the id (or in the whole word).
    let end = if hex { hs } else { we };
    let mut i = ws;
    while i < end {
        if !line[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < end && line[j].is_ascii_digit() {
            j += 1;
        }
        if j - i >= MIN_DIGITS {
            skel.extend_from_slice(&line[*done..i]);
            put_digits(&line[i..j], skel, vars);
            *done = j;
        }
        i = j;
    }
    if hex {
        skel.extend_from_slice(&line[*done..hs]);
        skel.push(if lower { HEX_LOWER } else { HEX_UPPER });
        skel.push(len as u8);
        put_hex(&line[hs..we], vars);
        *done = we;
    }
}

/// The first position at or after `from` holding a decimal digit.
#[inline]
fn next_digit(line: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    #[cfg(target_arch = "x86_64")]
    while i + 16 <= line.len() {
        let m = sse2::digits16(&line[i..i + 16]);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    line[i.min(line.len())..]
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| i + p)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    /// Bit `k` set when `b[k]` is in `lo..lo + len`, for the first 16 bytes
    /// of `b`. A range test is a signed compare after shifting the range's
    /// start down to -128.
    #[inline]
    fn in_range16(b: &[u8], lo: u8, len: u8) -> u32 {
        assert!(b.len() >= 16);
        // SAFETY: 16 bytes lie inside `b` (checked above); the load is
        // unaligned; SSE2 is always present on x86_64.
        unsafe {
            let v = _mm_loadu_si128(b.as_ptr().cast());
            let shifted = _mm_add_epi8(v, _mm_set1_epi8(0x80u8.wrapping_sub(lo) as i8));
            let hit = _mm_cmplt_epi8(shifted, _mm_set1_epi8(0x80u8.wrapping_add(len) as i8));
            _mm_movemask_epi8(hit) as u32
        }
    }

    /// Bit `k` set when `b[k]` is `0-9`, for the first 16 bytes of `b`.
    #[inline]
    pub(super) fn digits16(b: &[u8]) -> u32 {
        in_range16(b, b'0', 10)
    }

    /// Bit `k` set when `b[k]` is a marker (`0xF8..=0xFC`), for the first
    /// 16 bytes of `b`.
    #[inline]
    pub(super) fn markers16(b: &[u8]) -> u32 {
        in_range16(b, super::DIGITS, super::LAST_MARKER - super::DIGITS + 1)
    }
}

/// The markers and values of a run of digits, in pieces of at most 19.
fn put_digits(run: &[u8], skel: &mut Vec<u8>, vars: &mut Vec<u8>) {
    for piece in run.chunks(MAX_DIGITS) {
        let v = piece.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
        skel.push(DIGITS);
        skel.push(piece.len() as u8);
        put_uvarint(vars, v);
    }
}

fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c.wrapping_sub(b'A').wrapping_add(10) & 0x0F,
    }
}

fn put_hex(id: &[u8], vars: &mut Vec<u8>) {
    for pair in id.chunks(2) {
        let hi = nibble(pair[0]);
        let lo = pair.get(1).map_or(0, |&c| nibble(c));
        vars.push(hi << 4 | lo);
    }
}

/// Appends the line made of `skel` and `vars` to `out`. Bytes `0xFD..=0xFF`
/// of a skeleton are copied like any other: whether the result is UTF-8 is
/// for the caller to check.
pub fn join(skel: &[u8], vars: &[u8], out: &mut Vec<u8>) -> Result<(), JoinError> {
    let mut v = 0usize;
    let mut i = 0usize;
    while i < skel.len() {
        let m = skel[i];
        if !(DIGITS..=LAST_MARKER).contains(&m) {
            // Copy up to the next marker in one go.
            let end = next_marker(skel, i);
            out.extend_from_slice(&skel[i..end]);
            i = end;
            continue;
        }
        let width = *skel
            .get(i + 1)
            .ok_or(JoinError::MissingWidth { at: i, marker: m })?;
        let bad = JoinError::BadWidth {
            at: i,
            marker: m,
            width,
        };
        if m == DIGITS {
            if !(1..=MAX_DIGITS as u8).contains(&width) {
                return Err(bad);
            }
            let at = v;
            let (value, used) = get_uvarint(&vars[v..]).ok_or(JoinError::Truncated { at })?;
            v += used;
            let w = usize::from(width);
            if value >= POW10[w] {
                return Err(JoinError::TooWide { at, value, width });
            }
            let mut digits = [b'0'; MAX_DIGITS];
            let (mut x, mut k) = (value, w);
            while x >= 10 {
                let pair = (x % 100) as usize * 2;
                digits[k - 2..k].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
                x /= 100;
                k -= 2;
            }
            if x > 0 {
                digits[k - 1] = b'0' + x as u8;
            }
            out.extend_from_slice(&digits[..w]);
        } else if m >= UUID_LOWER {
            if width != UUID_CHARS {
                return Err(bad);
            }
            let chars: &[u8; 16] = if m == UUID_LOWER {
                b"0123456789abcdef"
            } else {
                b"0123456789ABCDEF"
            };
            let src = vars
                .get(v..v + UUID_BYTES)
                .ok_or(JoinError::Truncated { at: v })?;
            for (k, &b) in src.iter().enumerate() {
                if matches!(k, 4 | 6 | 8 | 10) {
                    out.push(b'-');
                }
                out.push(chars[usize::from(b >> 4)]);
                out.push(chars[usize::from(b & 0x0F)]);
            }
            v += UUID_BYTES;
        } else {
            if usize::from(width) < MIN_HEX {
                return Err(bad);
            }
            let chars: &[u8; 16] = if m == HEX_LOWER {
                b"0123456789abcdef"
            } else {
                b"0123456789ABCDEF"
            };
            let len = usize::from(width);
            let bytes = len.div_ceil(2);
            let src = vars
                .get(v..v + bytes)
                .ok_or(JoinError::Truncated { at: v })?;
            for (k, &b) in src.iter().enumerate() {
                out.push(chars[usize::from(b >> 4)]);
                if 2 * k + 1 < len {
                    out.push(chars[usize::from(b & 0x0F)]);
                }
            }
            v += bytes;
        }
        i += 2;
    }
    if v != vars.len() {
        return Err(JoinError::LeftOver {
            left: vars.len() - v,
        });
    }
    Ok(())
}

/// Why a block of split lines could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("byte {at}: {what}")]
    Corrupt { at: usize, what: &'static str },
    #[error("row {row}: {source}")]
    Line { row: usize, source: JoinError },
}

/// What one variable of a skeleton takes in the block's columns.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// A digits variable of this width: one value per row, coded by its
    /// column's [predictor](PREDICTORS).
    Digits(u8),
    /// A hex id: its bytes as in the variables.
    Hex(usize),
}

/// The variables of `skel`, in order; `None` if it ends inside a marker or a
/// width is out of range.
fn slots_of(skel: &[u8], out: &mut Vec<Slot>) -> Option<()> {
    let mut i = next_marker(skel, 0);
    while i < skel.len() {
        let w = *skel.get(i + 1)?;
        match skel[i] {
            DIGITS if (1..=MAX_DIGITS as u8).contains(&w) => out.push(Slot::Digits(w)),
            HEX_LOWER | HEX_UPPER if usize::from(w) >= MIN_HEX => {
                out.push(Slot::Hex(usize::from(w).div_ceil(2)))
            }
            UUID_LOWER | UUID_UPPER if w == UUID_CHARS => out.push(Slot::Hex(UUID_BYTES)),
            _ => return None,
        }
        i = next_marker(skel, i + 2);
    }
    Some(())
}

/// Predictor 0: a digits value is written as the zigzag varint of its
/// difference from the previous value of its column (0 before the first).
/// The only predictor of a block without timestamps.
pub const PREDICT_PREVIOUS: u8 = 0;
/// Predictor 1: the value itself, as a varint.
pub const PREDICT_NOTHING: u8 = 1;
/// Predictors `2 + k`: the zigzag varint of the value's difference from field
/// `k` of its row's timestamp (UTC), from [`TIME_FIELDS`].
const FIRST_TIME_FIELD: u8 = 2;

/// Fields of a row's timestamp that a number in its line may repeat (the
/// line's own timestamp, printed by the program that logged it): name and
/// printed width. A column is only compared with the fields of its width.
pub const TIME_FIELDS: [(&str, u8); 19] = [
    ("year", 4),
    ("year % 100", 2),
    ("month", 2),
    ("day", 2),
    ("hour", 2),
    ("minute", 2),
    ("second", 2),
    ("centiseconds", 2),
    ("milliseconds", 3),
    ("microseconds", 6),
    ("nanoseconds", 9),
    ("yymmdd", 6),
    ("hhmmss", 6),
    ("yyyymmdd", 8),
    ("hhmm", 4),
    ("Unix seconds", 10),
    ("Unix milliseconds", 13),
    ("Unix microseconds", 16),
    ("Unix nanoseconds", 19),
];

/// Bytes of a skeleton number in a timed block of `skeletons` skeletons:
/// enough for the largest, at least 1.
pub(super) fn number_width(skeletons: usize) -> usize {
    let largest = skeletons.saturating_sub(1) as u64;
    (64 - largest.leading_zeros() as usize).div_ceil(8).max(1)
}

/// How many of a column's first values choose its predictor.
const CHOOSE_BY: usize = 16;

/// Set in a predictor byte: every row of the column has the same value
/// (predictor 1) or the same difference from its time field (2 + k), which
/// the column holds once.
const ONCE: u8 = 0x80;
const ONCE_NOTHING: u8 = PREDICT_NOTHING | ONCE;
/// Set in a predictor byte: the column's differences are bit-packed (see
/// [`pack`]) instead of one varint each. Never with [`ONCE`].
const PACKED: u8 = 0x40;

/// Every predictor: previous, nothing, then the time fields.
const PREDICTORS: usize = FIRST_TIME_FIELD as usize + TIME_FIELDS.len();

/// A timestamp split for [`TimeParts::field`]: Unix seconds, nanoseconds of
/// the second, seconds of the day and the UTC date.
#[derive(Debug, Clone, Copy, Default)]
struct TimeParts {
    secs: i64,
    ns: u32,
    sod: u32,
    year: u32,
    month: u8,
    day: u8,
}

/// The last day whose date [`TimeParts::of`] worked out: (days since 1970,
/// year, month, day).
type DayCache = Option<(i64, u32, u8, u8)>;

impl TimeParts {
    /// The parts of `ts` (Unix nanoseconds).
    fn of(ts: i64, cache: &mut DayCache) -> TimeParts {
        let secs = ts.div_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let (year, month, day) = match *cache {
            Some((d, y, m, dd)) if d == days => (y, m, dd),
            _ => {
                let (y, m, d) = pharos_model::civil::civil_from_days(days);
                let (y, m, d) = (y as u32, m as u8, d as u8);
                *cache = Some((days, y, m, d));
                (y, m, d)
            }
        };
        TimeParts {
            secs,
            ns: ts.rem_euclid(1_000_000_000) as u32,
            sod: secs.rem_euclid(86_400) as u32,
            year,
            month,
            day,
        }
    }

    /// Field `k` of [`TIME_FIELDS`].
    #[inline]
    fn field(&self, k: usize) -> u64 {
        let (y, m, d) = (
            u64::from(self.year),
            u64::from(self.month),
            u64::from(self.day),
        );
        let (sod, ns) = (u64::from(self.sod), u64::from(self.ns));
        let (h, mi, s) = (sod / 3600, sod / 60 % 60, sod % 60);
        let secs = self.secs as u64;
        match k {
            0 => y,
            1 => y % 100,
            2 => m,
            3 => d,
            4 => h,
            5 => mi,
            6 => s,
            7 => ns / 10_000_000,
            8 => ns / 1_000_000,
            9 => ns / 1000,
            10 => ns,
            11 => (y % 100) * 10_000 + m * 100 + d,
            12 => h * 10_000 + mi * 100 + s,
            13 => y * 10_000 + m * 100 + d,
            14 => h * 100 + mi,
            15 => secs,
            16 => secs.wrapping_mul(1000).wrapping_add(ns / 1_000_000),
            17 => secs.wrapping_mul(1_000_000).wrapping_add(ns / 1000),
            _ => secs.wrapping_mul(1_000_000_000).wrapping_add(ns),
        }
    }
}

#[inline]
fn zigzag(d: u64) -> u64 {
    let d = d as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

#[inline]
fn unzigzag(z: u64) -> u64 {
    ((z >> 1) as i64 ^ -((z & 1) as i64)) as u64
}

/// Bits of a value, as a cost: a varint's size in bits, roughly.
#[inline]
fn cost(v: u64) -> u64 {
    u64::from(65 - v.leading_zeros())
}

/// Appends a row group's split lines, as a *block*, to `out`: its distinct
/// skeletons, each row's skeleton number, then one column per variable of
/// each skeleton holding that variable of every row with that skeleton. A
/// row group's lines repeat a few hundred skeletons, and a variable's values
/// side by side (a counter, a per-host id, the seconds of a timestamp)
/// compress far better than each line's values side by side.
///
/// With `ts` (the rows' timestamps), each digits column is written against
/// the predictor that costs it least: its previous value, nothing, or a field
/// of the row's timestamp, so a line's own timestamp, which mostly repeats
/// the entry's, takes next to nothing; a column of spread-out differences
/// (random numbers) is bit-packed ([`choose_packing`]); the block then holds
/// a predictor byte per digits column, and the skeleton numbers are
/// fixed-width byte planes.
/// Without, every digits column is differences from its previous value and
/// the numbers are varints (format 6).
///
/// `rows` are (skeleton, variables) pairs as [`split`] made them.
///
/// # Panics
/// If a row's variables do not fit its skeleton, which [`split`]'s never do,
/// or `ts` is not one per row.
pub fn encode_block(rows: &[(&[u8], &[u8])], ts: Option<&[i64]>, out: &mut Vec<u8>) {
    if let Some(ts) = ts {
        assert_eq!(ts.len(), rows.len(), "one timestamp per row");
    }
    // The skeletons, their slots (columns) and how many rows each has.
    let mut table: hashbrown::HashTable<u32> = hashbrown::HashTable::with_capacity(1024);
    let mut skels: Vec<(&[u8], u64)> = Vec::new();
    let mut first_col: Vec<usize> = Vec::new();
    let mut slots: Vec<Slot> = Vec::new();
    let mut per_skel: Vec<usize> = Vec::new();
    let mut row_ids: Vec<u32> = Vec::with_capacity(rows.len());
    for &(sk, _) in rows {
        let h = xxhash_rust::xxh3::xxh3_64(sk);
        let id = match table.find(h, |&id| skels[id as usize].0 == sk) {
            Some(&id) => id,
            None => {
                let id = skels.len() as u32;
                skels.push((sk, h));
                first_col.push(slots.len());
                slots_of(sk, &mut slots).expect("a split skeleton is well formed");
                per_skel.push(0);
                table.insert_unique(h, id, |&id| skels[id as usize].1);
                id
            }
        };
        per_skel[id as usize] += 1;
        row_ids.push(id);
    }
    first_col.push(slots.len());
    let cols = |s: usize| first_col[s]..first_col[s + 1];
    // Where each skeleton's rows and each column's values lie in flat
    // arrays: digits values in `values`, hex bytes in `hex`.
    let mut skel_at = Vec::with_capacity(skels.len());
    let mut col_at = vec![0usize; slots.len()];
    let (mut n_rows, mut n_values, mut n_hex) = (0, 0, 0);
    for (s, &n) in per_skel.iter().enumerate() {
        skel_at.push(n_rows);
        n_rows += n;
        for c in cols(s) {
            match slots[c] {
                Slot::Digits(_) => {
                    col_at[c] = n_values;
                    n_values += n;
                }
                Slot::Hex(b) => {
                    col_at[c] = n_hex;
                    n_hex += n * b;
                }
            }
        }
    }
    let mut skel_rows = vec![0u32; rows.len()];
    let mut values = vec![0u64; n_values];
    let mut hex = vec![0u8; n_hex];
    let mut seen = vec![0usize; skels.len()];
    for (row, (&(_, va), &id)) in rows.iter().zip(&row_ids).enumerate() {
        let s = id as usize;
        let k = seen[s];
        seen[s] += 1;
        skel_rows[skel_at[s] + k] = row as u32;
        let mut v = 0;
        for c in cols(s) {
            match slots[c] {
                Slot::Digits(_) => {
                    let (x, used) = get_uvarint(&va[v..]).expect("split variables fit");
                    values[col_at[c] + k] = x;
                    v += used;
                }
                Slot::Hex(b) => {
                    hex[col_at[c] + k * b..][..b].copy_from_slice(&va[v..v + b]);
                    v += b;
                }
            }
        }
    }
    // Each digits column's predictor.
    let mut predictor = vec![PREDICT_PREVIOUS; slots.len()];
    let mut times: Vec<TimeParts> = Vec::new();
    if let Some(ts) = ts {
        let mut cache = None;
        times.extend(ts.iter().map(|&t| TimeParts::of(t, &mut cache)));
        for s in 0..skels.len() {
            let n = per_skel[s];
            let skel_rows = &skel_rows[skel_at[s]..][..n];
            for c in cols(s) {
                if let Slot::Digits(width) = slots[c] {
                    let col = &values[col_at[c]..][..n];
                    predictor[c] = choose_predictor(col, skel_rows, width, &times);
                }
            }
        }
    }
    // The bit-packed columns, packed: where each one's bytes lie in
    // `packed`.
    let mut packed_at: Vec<Option<std::ops::Range<usize>>> = vec![None; slots.len()];
    let mut packed = Vec::new();
    if ts.is_some() {
        let (mut d, mut scratch) = (Vec::new(), Vec::new());
        for s in 0..skels.len() {
            let n = per_skel[s];
            let skel_rows = &skel_rows[skel_at[s]..][..n];
            for c in cols(s) {
                if let Slot::Digits(_) = slots[c] {
                    if predictor[c] & ONCE == 0 {
                        let col = &values[col_at[c]..][..n];
                        differences(col, skel_rows, predictor[c], &times, &mut d);
                        if let Some(how) = choose_packing(&d, &mut scratch) {
                            let from = packed.len();
                            pack(&d, how, &mut packed);
                            packed_at[c] = Some(from..packed.len());
                        }
                    }
                }
            }
        }
    }
    // Skeletons in byte order, so that similar ones sit together for zstd
    // (on the benchmark corpus a quarter fewer bytes for them, for a few
    // more in the skeleton numbers); numbered in that order.
    let mut order: Vec<u32> = (0..skels.len() as u32).collect();
    order.sort_unstable_by_key(|&id| skels[id as usize].0);
    let mut number = vec![0u32; skels.len()];
    for (n, &id) in order.iter().enumerate() {
        number[id as usize] = n as u32;
    }
    put_uvarint(out, skels.len() as u64);
    for &id in &order {
        let sk = skels[id as usize].0;
        put_uvarint(out, sk.len() as u64);
        out.extend_from_slice(sk);
    }
    if ts.is_some() {
        // Fixed-width numbers, most significant byte planes first: zstd
        // codes each plane's bytes with their own statistics.
        let width = number_width(skels.len());
        for plane in (0..width).rev() {
            out.extend(
                row_ids
                    .iter()
                    .map(|&id| (number[id as usize] >> (8 * plane)) as u8),
            );
        }
    } else {
        for &id in &row_ids {
            put_uvarint(out, u64::from(number[id as usize]));
        }
    }
    if ts.is_some() {
        for &id in &order {
            for c in cols(id as usize) {
                if let Slot::Digits(_) = slots[c] {
                    out.push(predictor[c] | if packed_at[c].is_some() { PACKED } else { 0 });
                }
            }
        }
    }
    for &id in &order {
        let s = id as usize;
        let n = per_skel[s];
        let skel_rows = &skel_rows[skel_at[s]..][..n];
        for c in cols(s) {
            if let Some(r) = &packed_at[c] {
                out.extend_from_slice(&packed[r.clone()]);
                continue;
            }
            match slots[c] {
                Slot::Hex(b) => out.extend_from_slice(&hex[col_at[c]..][..n * b]),
                Slot::Digits(_) => {
                    let col = &values[col_at[c]..][..n];
                    match predictor[c] {
                        ONCE_NOTHING => put_uvarint(out, col[0]),
                        p if p & ONCE != 0 => {
                            let f = times[skel_rows[0] as usize]
                                .field(usize::from((p & !ONCE) - FIRST_TIME_FIELD));
                            put_uvarint(out, zigzag(col[0].wrapping_sub(f)));
                        }
                        PREDICT_PREVIOUS => {
                            let mut last = 0u64;
                            for &x in col {
                                put_uvarint(out, zigzag(x.wrapping_sub(last)));
                                last = x;
                            }
                        }
                        PREDICT_NOTHING => col.iter().for_each(|&x| put_uvarint(out, x)),
                        p => {
                            let k = usize::from(p - FIRST_TIME_FIELD);
                            for (&x, &row) in col.iter().zip(skel_rows) {
                                let f = times[row as usize].field(k);
                                put_uvarint(out, zigzag(x.wrapping_sub(f)));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How a bit-packed column is written: its smallest difference (as a
/// signed number) and the bits of each difference above it.
#[derive(Debug, Clone, Copy)]
struct Packing {
    min: u64,
    bits: u8,
}

/// The differences of a digits column `col` (rows `skel_rows`) from what
/// `predictor` (not [`ONCE`]) predicts, wrapping, into `out`: what the varints
/// hold before zigzag.
fn differences(
    col: &[u64],
    skel_rows: &[u32],
    predictor: u8,
    times: &[TimeParts],
    out: &mut Vec<u64>,
) {
    out.clear();
    match predictor {
        PREDICT_PREVIOUS => {
            let mut last = 0u64;
            out.extend(col.iter().map(|&x| {
                let d = x.wrapping_sub(last);
                last = x;
                d
            }));
        }
        PREDICT_NOTHING => out.extend_from_slice(col),
        p => {
            let k = usize::from(p - FIRST_TIME_FIELD);
            out.extend(
                col.iter()
                    .zip(skel_rows)
                    .map(|(&x, &row)| x.wrapping_sub(times[row as usize].field(k))),
            );
        }
    }
}

/// Columns shorter than this are never packed.
const PACK_MIN_ROWS: usize = 8;

/// Whether to bit-pack differences `d`, and how: when they are spread out
/// (mostly distinct, as random numbers are), where zstd finds no repeats
/// and a varint spends a bit in eight on its own length.
fn choose_packing(d: &[u64], scratch: &mut Vec<u64>) -> Option<Packing> {
    let n = d.len();
    if n < PACK_MIN_ROWS {
        return None;
    }
    let min = d.iter().map(|&x| x as i64).min()? as u64;
    let spread = d.iter().map(|&x| x.wrapping_sub(min)).max()?;
    let bits = (64 - spread.leading_zeros()) as u8;
    let packed = (n * usize::from(bits)).div_ceil(8) + 2;
    let varints: usize = d.iter().map(|&x| uvarint_len(zigzag(x))).sum();
    if packed * PACK_RATIO.1 > varints * PACK_RATIO.0 {
        return None;
    }
    scratch.clear();
    scratch.extend_from_slice(d);
    scratch.sort_unstable();
    scratch.dedup();
    (scratch.len() * PACK_DISTINCT.1 >= n * PACK_DISTINCT.0).then_some(Packing { min, bits })
}

/// Packed bytes at most this fraction of the varints' (measured on the
/// benchmark corpus: packing more often or less often both took more).
const PACK_RATIO: (usize, usize) = (95, 100);
/// Distinct differences at least this fraction of the rows.
const PACK_DISTINCT: (usize, usize) = (1, 2);

/// Appends a packed column: `zigzag(min)` as a varint, a byte `bits`
/// (0–64), then each difference minus `min` in `bits` bits, least
/// significant bit first, padded with 0 bits to a whole byte.
fn pack(d: &[u64], how: Packing, out: &mut Vec<u8>) {
    put_uvarint(out, zigzag(how.min));
    out.push(how.bits);
    let bits = u32::from(how.bits);
    let (mut acc, mut held) = (0u128, 0u32);
    for &x in d {
        acc |= u128::from(x.wrapping_sub(how.min)) << held;
        held += bits;
        while held >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            held -= 8;
        }
    }
    if held > 0 {
        out.push(acc as u8);
    }
}

/// Reads a packed column of `n` differences ([`pack`]) from `b` into `out`;
/// the bytes it took, or `None` if it is truncated or its width is over 64.
fn unpack(b: &[u8], n: usize, out: &mut Vec<u64>) -> Option<usize> {
    let (z, mut used) = get_uvarint(b)?;
    let min = unzigzag(z);
    let bits = u32::from(*b.get(used)?);
    used += 1;
    if bits > 64 {
        return None;
    }
    let len = (n * bits as usize).div_ceil(8);
    let src = b.get(used..used + len)?;
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let (mut acc, mut held, mut next) = (0u128, 0u32, 0usize);
    for _ in 0..n {
        while held < bits {
            acc |= u128::from(src[next]) << held;
            next += 1;
            held += 8;
        }
        out.push((acc as u64 & mask).wrapping_add(min));
        acc = if bits == 64 { acc >> 64 } else { acc >> bits };
        held -= bits;
    }
    Some(used + len)
}

/// The predictor of a digits column of `width`: its values `col`, in the
/// rows `skel_rows` whose timestamps are `times` ([`encode_block`]).
fn choose_predictor(col: &[u64], skel_rows: &[u32], width: u8, times: &[TimeParts]) -> u8 {
    let n = col.len();
    // The time fields of the column's width.
    let mut fields = [0u8; TIME_FIELDS.len()];
    let mut n_fields = 0;
    for (k, &(_, w)) in TIME_FIELDS.iter().enumerate() {
        if w == width {
            fields[n_fields] = k as u8;
            n_fields += 1;
        }
    }
    let candidates = &fields[..n_fields];
    let mut costs = [0u64; PREDICTORS];
    // Per predictor: the first difference, and whether every one so far was
    // the same.
    let mut first = [0u64; PREDICTORS];
    let mut same = [true; PREDICTORS];
    let mut note = |p: u8, d: u64, i: usize| {
        // Written as it is (nothing) or as a signed difference.
        costs[usize::from(p)] += cost(if p == PREDICT_NOTHING { d } else { zigzag(d) });
        let p = usize::from(p);
        if i == 0 {
            first[p] = d;
        } else {
            same[p] &= d == first[p];
        }
    };
    let mut last = 0u64;
    // The first values decide: a column's values are alike.
    for (i, (&x, &row)) in col.iter().zip(skel_rows).take(CHOOSE_BY).enumerate() {
        note(PREDICT_PREVIOUS, x.wrapping_sub(last), i);
        note(PREDICT_NOTHING, x, i);
        last = x;
        let t = &times[row as usize];
        for &k in candidates {
            note(
                FIRST_TIME_FIELD + k,
                x.wrapping_sub(t.field(usize::from(k))),
                i,
            );
        }
    }
    let others =
        std::iter::once(PREDICT_NOTHING).chain(candidates.iter().map(|&k| FIRST_TIME_FIELD + k));
    // Cheapest: one difference for every row, held once (the smallest such),
    // else the fewest bits.
    let once = others
        .clone()
        .filter(|&p| n >= 2 && same[usize::from(p)])
        .min_by_key(|&p| cost(zigzag(first[usize::from(p)])))
        .filter(|&p| {
            let d = |x: u64, row: u32| match p {
                PREDICT_NOTHING => x,
                p => x.wrapping_sub(times[row as usize].field(usize::from(p - FIRST_TIME_FIELD))),
            };
            let f = first[usize::from(p)];
            col.iter()
                .zip(skel_rows)
                .skip(CHOOSE_BY)
                .all(|(&x, &row)| d(x, row) == f)
        });
    match once {
        Some(p) => p | ONCE,
        None => others.fold(PREDICT_PREVIOUS, |best, p| {
            if costs[usize::from(p)] < costs[usize::from(best)] {
                p
            } else {
                best
            }
        }),
    }
}

/// Decodes a block of `rows` lines ([`encode_block`]; `ts` as it was
/// encoded with), appending the lines back to back to `text` and where each
/// ends to `ends`.
pub fn decode_block(
    b: &[u8],
    rows: usize,
    ts: Option<&[i64]>,
    text: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Result<(), BlockError> {
    let mut r = super::codec::Reader::new(b, "split lines");
    let corrupt = |r: &super::codec::Reader, what| BlockError::Corrupt { at: r.pos, what };
    if ts.is_some_and(|t| t.len() != rows) {
        return Err(corrupt(&r, "not one timestamp per row"));
    }
    let n = r.count().map_err(|_| corrupt(&r, "skeleton count"))?;
    let mut skels: Vec<&[u8]> = Vec::with_capacity(n);
    let mut first_col: Vec<usize> = Vec::with_capacity(n + 1);
    let mut slots: Vec<Slot> = Vec::new();
    for _ in 0..n {
        let sk = r.bytes().map_err(|_| corrupt(&r, "truncated skeleton"))?;
        first_col.push(slots.len());
        slots_of(sk, &mut slots).ok_or_else(|| corrupt(&r, "malformed skeleton"))?;
        skels.push(sk);
    }
    first_col.push(slots.len());
    let mut row_ids: Vec<u32> = Vec::with_capacity(rows);
    if ts.is_some() {
        let width = number_width(n);
        let planes = r
            .take(rows * width)
            .map_err(|_| corrupt(&r, "truncated rows"))?;
        row_ids.resize(rows, 0);
        for plane in planes.chunks_exact(rows.max(1)) {
            for (id, &b) in row_ids.iter_mut().zip(plane) {
                *id = *id << 8 | u32::from(b);
            }
        }
    } else {
        for _ in 0..rows {
            row_ids.push(r.id().map_err(|_| corrupt(&r, "truncated row"))?);
        }
    }
    let mut per_skel = vec![0usize; n];
    for &id in &row_ids {
        *per_skel
            .get_mut(id as usize)
            .ok_or_else(|| corrupt(&r, "row names an unknown skeleton"))? += 1;
    }
    let mut predictor = vec![PREDICT_PREVIOUS; slots.len()];
    if ts.is_some() {
        for (c, slot) in slots.iter().enumerate() {
            if let Slot::Digits(_) = slot {
                let p = r.byte().map_err(|_| corrupt(&r, "truncated predictors"))?;
                if usize::from(p & !(ONCE | PACKED)) >= PREDICTORS
                    || p == PREDICT_PREVIOUS | ONCE
                    || p & (ONCE | PACKED) == ONCE | PACKED
                {
                    return Err(BlockError::Corrupt {
                        at: r.pos - 1,
                        what: "unknown predictor",
                    });
                }
                predictor[c] = p;
            }
        }
    }
    // Where each column starts, found by walking it; a packed column's
    // differences are unpacked into `pool`, and it starts there.
    let mut at: Vec<usize> = Vec::with_capacity(slots.len());
    let mut pool: Vec<u64> = Vec::new();
    let mut pos = r.pos;
    let mut c = 0;
    for s in 0..n {
        for &slot in &slots[first_col[s]..first_col[s + 1]] {
            if predictor[c] & PACKED != 0 {
                at.push(pool.len());
                pos += unpack(&b[pos..], per_skel[s], &mut pool).ok_or(BlockError::Corrupt {
                    at: pos,
                    what: "truncated packed numbers",
                })?;
                c += 1;
                continue;
            }
            at.push(pos);
            let values = match slot {
                Slot::Digits(_) if predictor[c] & ONCE != 0 => per_skel[s].min(1),
                _ => per_skel[s],
            };
            c += 1;
            for _ in 0..values {
                pos += match slot {
                    Slot::Digits(_) => {
                        get_uvarint(&b[pos..])
                            .ok_or(BlockError::Corrupt {
                                at: pos,
                                what: "truncated number",
                            })?
                            .1
                    }
                    Slot::Hex(k) if k <= b.len() - pos => k,
                    Slot::Hex(_) => {
                        return Err(BlockError::Corrupt {
                            at: pos,
                            what: "truncated id",
                        })
                    }
                };
            }
        }
    }
    if pos != b.len() {
        return Err(BlockError::Corrupt {
            at: pos,
            what: "bytes after the last column",
        });
    }
    let mut last = vec![0u64; slots.len()];
    let mut va = Vec::new();
    let mut cache = None;
    for (row, &id) in row_ids.iter().enumerate() {
        let s = id as usize;
        va.clear();
        let mut time = None;
        for c in first_col[s]..first_col[s + 1] {
            match slots[c] {
                Slot::Digits(_) => {
                    let p = predictor[c];
                    // The difference from the prediction (checked above).
                    let d = if p & PACKED != 0 {
                        at[c] += 1;
                        pool[at[c] - 1]
                    } else {
                        let (z, used) = get_uvarint(&b[at[c]..]).unwrap_or((0, 1));
                        if p & ONCE == 0 {
                            at[c] += used;
                        }
                        if p & !ONCE == PREDICT_NOTHING {
                            z
                        } else {
                            unzigzag(z)
                        }
                    };
                    last[c] = match p & !(ONCE | PACKED) {
                        PREDICT_PREVIOUS => last[c].wrapping_add(d),
                        PREDICT_NOTHING => d,
                        p => {
                            let t = ts.map_or(0, |t| t[row]);
                            let t = time.get_or_insert_with(|| TimeParts::of(t, &mut cache));
                            t.field(usize::from(p - FIRST_TIME_FIELD)).wrapping_add(d)
                        }
                    };
                    put_uvarint(&mut va, last[c]);
                }
                Slot::Hex(k) => {
                    va.extend_from_slice(&b[at[c]..at[c] + k]);
                    at[c] += k;
                }
            }
        }
        join(skels[s], &va, text).map_err(|source| BlockError::Line { row, source })?;
        ends.push(text.len());
    }
    Ok(())
}

/// `10^k` for the widths: a value of width `k` is below `POW10[k]`.
const POW10: [u64; MAX_DIGITS + 1] = {
    let mut p = [1u64; MAX_DIGITS + 1];
    let mut k = 1;
    while k <= MAX_DIGITS {
        p[k] = p[k - 1] * 10;
        k += 1;
    }
    p
};

/// `00` to `99`, two bytes each.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// The first position at or after `from` holding a marker (`0xF8..=0xFC`),
/// else the end.
#[inline]
fn next_marker(skel: &[u8], from: usize) -> usize {
    let mut i = from;
    #[cfg(target_arch = "x86_64")]
    while i + 16 <= skel.len() {
        let m = sse2::markers16(&skel[i..i + 16]);
        if m != 0 {
            return i + m.trailing_zeros() as usize;
        }
        i += 16;
    }
    skel[i.min(skel.len())..]
        .iter()
        .position(|b| (DIGITS..=LAST_MARKER).contains(b))
        .map_or(skel.len(), |p| i + p)
}

/// A LEB128 value and the bytes it took; `None` if truncated or over 64 bits
/// (stricter than [`super::codec::Reader::uvarint`], which lets a tenth byte's
/// high bits fall off: a damaged value must not pass for a small one).
fn get_uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (k, &x) in b.iter().enumerate().take(10) {
        let part = u64::from(x & 0x7F);
        if k == 9 && part > 1 {
            return None;
        }
        v |= part << (7 * k);
        if x & 0x80 == 0 {
            return Some((v, k + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Encodes `lines` as a block (with `ts`, timed), checks that it decodes
    /// to them, and returns it.
    fn block_round_trip_at(lines: &[&str], ts: Option<&[i64]>) -> Vec<u8> {
        let split: Vec<(Vec<u8>, Vec<u8>)> = lines
            .iter()
            .map(|l| {
                let (mut sk, mut va) = (Vec::new(), Vec::new());
                split(l.as_bytes(), &mut sk, &mut va);
                (sk, va)
            })
            .collect();
        let rows: Vec<(&[u8], &[u8])> = split.iter().map(|(s, v)| (&s[..], &v[..])).collect();
        let mut b = Vec::new();
        encode_block(&rows, ts, &mut b);
        let (mut text, mut ends) = (Vec::new(), Vec::new());
        decode_block(&b, lines.len(), ts, &mut text, &mut ends).expect("decodes");
        let mut from = 0;
        for (l, &e) in lines.iter().zip(&ends) {
            assert_eq!(&text[from..e], l.as_bytes());
            from = e;
        }
        assert_eq!(ends.len(), lines.len());
        b
    }

    fn block_round_trip(lines: &[&str]) -> Vec<u8> {
        block_round_trip_at(lines, None)
    }

    #[test]
    fn blocks_round_trip_and_damage_is_an_error() {
        let lines = [
            "081109 203615 148 INFO blk_-1608999687919862906 terminating",
            "081109 203616 149 INFO blk_-1608999687919862907 terminating",
            "req 0x7FFD12AB00 id deadbeef01 took 12 ms",
            "",
            "no numbers",
            "081109 203617 150 INFO blk_-1608999687919862905 terminating",
        ];
        let ts: Vec<i64> = (0..lines.len() as i64).map(|i| i * 1_000_000_007).collect();
        for ts in [None, Some(&ts[..])] {
            let b = block_round_trip_at(&lines, ts);
            let (mut text, mut ends) = (Vec::new(), Vec::new());
            for cut in 0..b.len() {
                text.clear();
                ends.clear();
                assert!(
                    decode_block(&b[..cut], lines.len(), ts, &mut text, &mut ends).is_err(),
                    "cut at {cut}"
                );
            }
            assert!(decode_block(&b, lines.len() + 1, ts, &mut text, &mut ends).is_err());
        }
        block_round_trip(&[]);
        block_round_trip_at(&[], Some(&[]));
    }

    /// 2008-11-09 20:36:15.148123456 UTC, in nanoseconds.
    const HDFS_TS: i64 = 1_226_262_975_148_123_456;

    fn time_fields(ts: i64, cache: &mut DayCache) -> [u64; TIME_FIELDS.len()] {
        let t = TimeParts::of(ts, cache);
        std::array::from_fn(|k| t.field(k))
    }

    #[test]
    fn time_fields_of_a_timestamp() {
        let mut cache = None;
        let f = time_fields(HDFS_TS, &mut cache);
        let want: [u64; TIME_FIELDS.len()] = [
            2008,
            8,
            11,
            9,
            20,
            36,
            15,
            14,
            148,
            148_123,
            148_123_456,
            81_109,
            203_615,
            20_081_109,
            2036,
            1_226_262_975,
            1_226_262_975_148,
            1_226_262_975_148_123,
            1_226_262_975_148_123_456,
        ];
        assert_eq!(f, want);
        // The day is cached, and a new day is worked out anew.
        assert_eq!(time_fields(HDFS_TS + 86_400_000_000_000, &mut cache)[3], 10);
        assert_eq!(time_fields(HDFS_TS, &mut cache)[3], 9);
        // Before 1970 and leap days.
        assert_eq!(
            time_fields(-1, &mut cache)[..8],
            [1969, 69, 12, 31, 23, 59, 59, 99]
        );
        let leap = 951_782_400_000_000_000; // 2000-02-29
        assert_eq!(time_fields(leap, &mut cache)[..4], [2000, 0, 2, 29]);
    }

    #[test]
    fn numbers_that_repeat_the_timestamp_take_next_to_nothing() {
        // Lines at irregular times whose text holds their own time, and a
        // counter.
        let mut t = HDFS_TS;
        let ts: Vec<i64> = (0..400i64)
            .map(|i| {
                t += (i * 7_919_000_003 + 12_345) % 3_000_000_000;
                t
            })
            .collect();
        let lines: Vec<String> = ts
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let f = time_fields(t, &mut None);
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03} {} INFO served {} bytes",
                    f[0],
                    f[2],
                    f[3],
                    f[4],
                    f[5],
                    f[6],
                    f[8],
                    f[15],
                    1000 + i * 7
                )
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let timed = block_round_trip_at(&refs, Some(&ts));
        let plain = block_round_trip(&refs);
        let z = |b: &[u8]| zstd::bulk::compress(b, 1).expect("zstd").len();
        assert!(
            z(&timed) * 3 < z(&plain),
            "timed {} bytes, plain {}",
            z(&timed),
            z(&plain)
        );
        // Timestamps that do not match still round-trip.
        let other: Vec<i64> = ts.iter().map(|t| t ^ 0x5555_5555_5555).collect();
        block_round_trip_at(&refs, Some(&other));
        let (mut text, mut ends) = (Vec::new(), Vec::new());
        // Decoded against other timestamps, the time fields come out wrong
        // (or too wide): never the same lines.
        if decode_block(&timed, refs.len(), Some(&other), &mut text, &mut ends).is_ok() {
            assert_ne!(text, lines.concat().into_bytes());
        }
    }

    #[test]
    fn skeleton_numbers_take_the_bytes_the_largest_needs() {
        for (skeletons, width) in [(0, 1), (1, 1), (256, 1), (257, 2), (65_536, 2), (65_537, 3)] {
            assert_eq!(number_width(skeletons), width, "{skeletons}");
        }
        // 300 skeletons: two byte planes.
        let lines: Vec<String> = (0..600).map(|i| format!("w{} x 12", i % 300)).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let ts: Vec<i64> = (0..600).collect();
        block_round_trip_at(&refs, Some(&ts));
    }

    #[test]
    fn a_column_with_one_difference_holds_it_once() {
        // Local time one hour ahead of UTC, and a constant pid.
        let ts: Vec<i64> = (0..50i64).map(|i| HDFS_TS + i * 61_000_000_000).collect();
        let lines: Vec<String> = ts
            .iter()
            .map(|&t| {
                let f = time_fields(t + 3_600_000_000_000, &mut None);
                format!("{:02}:{:02}:{:02} pid 4242 up", f[4], f[5], f[6])
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let b = block_round_trip_at(&refs, Some(&ts));
        let (mut sk, mut va) = (Vec::new(), Vec::new());
        split(refs[0].as_bytes(), &mut sk, &mut va);
        // One skeleton, 50 one-byte row numbers, then a predictor per number.
        let at = 2 + sk.len() + 50;
        let hour = FIRST_TIME_FIELD + 4;
        assert_eq!(b[at], hour | ONCE, "hours: one difference (+1)");
        assert_eq!(b[at + 1] & !ONCE, FIRST_TIME_FIELD + 5, "minutes");
        // The pid: one value (as it is, or as its difference from the year,
        // which is smaller).
        assert_eq!(b[at + 3], FIRST_TIME_FIELD | ONCE, "the pid");
        // Columns: the hour's difference once, the pid once.
        assert_eq!(b[at + 4], 2, "zigzag(+1)");
        assert!(b.len() < at + 4 + 8, "{} bytes", b.len());
        // A once-only previous-value column is no predictor.
        let mut bad = b.clone();
        bad[at + 3] = PREDICT_PREVIOUS | ONCE;
        let (mut text, mut ends) = (Vec::new(), Vec::new());
        assert!(decode_block(&bad, 50, Some(&ts), &mut text, &mut ends).is_err());
    }

    #[test]
    fn random_numbers_are_bit_packed() {
        // A 7-digit random number per line: 24 bits packed, against 4-byte
        // varints.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let lines: Vec<String> = (0..200)
            .map(|i| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                format!(
                    "took 0.{:07} s, attempt {}",
                    (x >> 33) % 10_000_000,
                    10 + i % 3
                )
            })
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let ts: Vec<i64> = (0..200).map(|i| i * 1_000_000_007).collect();
        let b = block_round_trip_at(&lines, Some(&ts));
        // One skeleton (count, length, bytes), the rows, two predictors.
        let at = 1 + 1 + b[1] as usize + 200;
        assert_eq!(b[at], PREDICT_NOTHING | PACKED, "the random number");
        assert_eq!(b[at + 1] & PACKED, 0, "the attempts repeat: not packed");
        assert!(b.len() < at + 2 + 200 * 24 / 8 + 220, "{} bytes", b.len());
        // Truncated packed bits are an error.
        let (mut text, mut ends) = (Vec::new(), Vec::new());
        let mut cut = b.clone();
        cut.truncate(at + 2 + 5);
        assert!(decode_block(&cut, 200, Some(&ts), &mut text, &mut ends).is_err());
        // So is a width over 64 and a packed column held once.
        let mut bad = b.clone();
        bad[at + 2 + 1] = 65;
        assert!(decode_block(&bad, 200, Some(&ts), &mut text, &mut ends).is_err());
        let mut bad = b.clone();
        bad[at] |= ONCE;
        assert!(decode_block(&bad, 200, Some(&ts), &mut text, &mut ends).is_err());
    }

    #[test]
    fn packing_round_trips_at_every_width() {
        for bits in 0..=64u32 {
            let top = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            let d: Vec<u64> = (0..37u64)
                .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & top).wrapping_add(5))
                .collect();
            let how = Packing {
                min: 5,
                bits: bits as u8,
            };
            let mut out = Vec::new();
            pack(&d, how, &mut out);
            let mut back = Vec::new();
            assert_eq!(unpack(&out, d.len(), &mut back), Some(out.len()), "{bits}");
            assert_eq!(back, d, "{bits}");
        }
    }

    #[test]
    fn unknown_predictors_are_errors() {
        let lines = ["at 12:34", "at 12:35"];
        let ts = [0, 60_000_000_000];
        let mut b = block_round_trip_at(&lines, Some(&ts));
        // One skeleton (count, length, bytes), two rows, two predictors.
        let at = 1 + 1 + b[1] as usize + 2;
        b[at] = PREDICTORS as u8;
        let (mut text, mut ends) = (Vec::new(), Vec::new());
        let err = decode_block(&b, 2, Some(&ts), &mut text, &mut ends).expect_err("bad");
        assert_eq!(
            err,
            BlockError::Corrupt {
                at,
                what: "unknown predictor"
            }
        );
        assert!(decode_block(&b, 2, Some(&ts[..1]), &mut text, &mut ends).is_err());
    }

    /// The definition, byte by byte: what [`split`] must produce.
    fn split_reference(line: &[u8], skel: &mut Vec<u8>, vars: &mut Vec<u8>) {
        let n = line.len();
        let mut i = 0;
        while i < n {
            let uuid = line.get(i..i + 36);
            if is_uuid(line, i) && uuid.is_some_and(|u| u.iter().any(u8::is_ascii_digit)) {
                let upper = uuid.is_some_and(|u| u.iter().any(u8::is_ascii_uppercase));
                skel.push(if upper { UUID_UPPER } else { UUID_LOWER });
                skel.push(36);
                put_uuid(&line[i..i + 36], vars);
                i += 36;
                continue;
            }
            if !line[i].is_ascii_hexdigit() {
                skel.push(line[i]);
                i += 1;
                continue;
            }
            let mut j = i;
            let (mut digit, mut lower, mut upper) = (false, false, false);
            while j < n && line[j].is_ascii_hexdigit() {
                match line[j] {
                    b'0'..=b'9' => digit = true,
                    b'a'..=b'f' => lower = true,
                    _ => upper = true,
                }
                j += 1;
            }
            let left = i == 0
                || !line[i - 1].is_ascii_alphanumeric()
                || (i >= 2 && line[i - 1] | 0x20 == b'x' && line[i - 2] == b'0');
            let bounded = left && (j == n || !line[j].is_ascii_alphanumeric());
            let len = j - i;
            if bounded && digit && (lower != upper) && (MIN_HEX..=MAX_HEX).contains(&len) {
                skel.push(if lower { HEX_LOWER } else { HEX_UPPER });
                skel.push(len as u8);
                put_hex(&line[i..j], vars);
            } else {
                let mut k = i;
                while k < j {
                    if !line[k].is_ascii_digit() {
                        skel.push(line[k]);
                        k += 1;
                        continue;
                    }
                    let mut e = k;
                    while e < j && line[e].is_ascii_digit() {
                        e += 1;
                    }
                    if e - k < MIN_DIGITS {
                        skel.extend_from_slice(&line[k..e]);
                    } else {
                        put_digits(&line[k..e], skel, vars);
                    }
                    k = e;
                }
            }
            i = j;
        }
    }

    fn roundtrip(line: &str) -> (Vec<u8>, Vec<u8>) {
        let (mut s, mut v) = (Vec::new(), Vec::new());
        split(line.as_bytes(), &mut s, &mut v);
        let (mut rs, mut rv) = (Vec::new(), Vec::new());
        split_reference(line.as_bytes(), &mut rs, &mut rv);
        assert_eq!(
            (&s, &v),
            (&rs, &rv),
            "split differs from its definition on {line:?}"
        );
        let mut out = Vec::new();
        join(&s, &v, &mut out).expect("join");
        assert_eq!(out, line.as_bytes(), "{line:?}");
        (s, v)
    }

    #[test]
    fn numbers_and_ids_leave_the_skeleton() {
        let (s, v) = roundtrip("081109 203615 148 INFO dfs.DataNode$PacketResponder: blk_-1608999687919862906 terminating");
        let mut want = vec![DIGITS, 6, b' ', DIGITS, 6, b' ', DIGITS, 3];
        want.extend_from_slice(b" INFO dfs.DataNode$PacketResponder: blk_-");
        want.extend_from_slice(&[DIGITS, 19]);
        want.extend_from_slice(b" terminating");
        assert_eq!(s, want);
        // 81109 and 203615 take 3 bytes, 148 two, the 19 digits nine.
        assert_eq!(v.len(), 3 + 3 + 2 + 9);

        let (s, v) = roundtrip("req-3f2a9c1e-77b0-4c1d-9e2f-0a1b2c3d4e5f done 0xDEADBEEF1");
        let mut want = b"req-".to_vec();
        want.extend_from_slice(&[UUID_LOWER, 36]);
        want.extend_from_slice(b" done 0x");
        want.extend_from_slice(&[HEX_UPPER, 9]);
        assert_eq!(s, want);
        assert_eq!(v.len(), 16 + 5);
    }

    #[test]
    fn uuids() {
        let (s, v) = roundtrip(
            "instance: 6A3F0B2C-0D1E-4F5A-8B9C-0123456789AB, 00000000-0000-0000-0000-000000000000.",
        );
        let mut want = b"instance: ".to_vec();
        want.extend_from_slice(&[UUID_UPPER, 36, b',', b' ', UUID_LOWER, 36, b'.']);
        assert_eq!(s, want);
        assert_eq!(v.len(), 32);
        // The first groups without a digit.
        let (s, _) = roundtrip("[abcdefab-abcd-ab12-abcd-abcdefabcdef]");
        assert_eq!(s, [b'[', UUID_LOWER, 36, b']']);
        // Not UUIDs: mixed case, glued to a word, a group too long, no digit.
        for line in [
            "3f2a9c1e-77b0-4c1d-9e2f-0a1b2c3D4e5f",
            "x3f2a9c1e-77b0-4c1d-9e2f-0a1b2c3d4e5f",
            "3f2a9c1e-77b0-4c1d-9e2f-0a1b2c3d4e5f0",
            "3f2a9c1e-77b0-4c1d9-e2f-0a1b2c3d4e5f",
            "3f2a9c1e-77b0-4c1d-9e2f-0a1b2c3d4e5",
            "abcdefab-abcd-abcd-abcd-abcdefabcdef",
        ] {
            let (s, _) = roundtrip(line);
            assert!(
                !s.contains(&UUID_LOWER) && !s.contains(&UUID_UPPER),
                "{line:?}"
            );
        }
        // A damaged width is an error.
        let mut out = Vec::new();
        assert!(join(&[UUID_LOWER, 35], &[0; 16], &mut out).is_err());
        assert!(join(&[UUID_LOWER, 36], &[0; 15], &mut out).is_err());
    }

    #[test]
    fn what_stays_text() {
        // Single digits, hex without a digit or mixed case, ids glued to words.
        for line in [
            "a 1 b",
            "deadbeefcafe",
            "DeadBeef12345",
            "x1234abcd5678",
            "",
            "ünïcode 12 ✓",
        ] {
            let (s, _) = roundtrip(line);
            assert!(
                !s.contains(&HEX_LOWER) && !s.contains(&HEX_UPPER),
                "{line:?}"
            );
        }
        let (s, v) = roundtrip("x1234abcd5678");
        assert_eq!(s, [b'x', DIGITS, 4, b'a', b'b', b'c', b'd', DIGITS, 4]);
        assert_eq!(v.len(), 4);
    }

    #[test]
    fn long_runs_and_leading_zeros() {
        roundtrip("00000000000000000000000000000000000000000001");
        roundtrip("99999999999999999999");
        roundtrip(&"ab12".repeat(100));
        roundtrip(&"9".repeat(1000));
        roundtrip(&"a1".repeat(1000));
        roundtrip("ab0x1234abcd5 0x0x12345678 x0x1234567a 0X1234567A");
        let (s, v) = roundtrip("007");
        assert_eq!(s, [DIGITS, 3]);
        assert_eq!(v, [7]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        assert_eq!(
            join(&[DIGITS], &[], &mut out),
            Err(JoinError::MissingWidth {
                at: 0,
                marker: DIGITS
            })
        );
        assert!(matches!(
            join(&[DIGITS, 0], &[1], &mut out),
            Err(JoinError::BadWidth { .. })
        ));
        assert!(matches!(
            join(&[DIGITS, 20], &[1], &mut out),
            Err(JoinError::BadWidth { .. })
        ));
        assert!(matches!(
            join(&[HEX_LOWER, 7], &[], &mut out),
            Err(JoinError::BadWidth { .. })
        ));
        assert_eq!(
            join(&[DIGITS, 2], &[0x80], &mut out),
            Err(JoinError::Truncated { at: 0 })
        );
        assert!(matches!(
            join(&[DIGITS, 2], &[100], &mut out),
            Err(JoinError::TooWide { .. })
        ));
        assert_eq!(
            join(&[HEX_UPPER, 9], &[1, 2, 3, 4], &mut out),
            Err(JoinError::Truncated { at: 0 })
        );
        assert_eq!(
            join(b"abc", &[1], &mut out),
            Err(JoinError::LeftOver { left: 1 })
        );
        // u64::MAX has 20 digits: too wide for any width.
        let mut v = Vec::new();
        put_uvarint(&mut v, u64::MAX);
        assert!(matches!(
            join(&[DIGITS, 19], &v, &mut out),
            Err(JoinError::TooWide { .. })
        ));
        assert_eq!(get_uvarint(&[0xFF; 10]), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_lines_round_trip_as_a_block(lines in proptest::collection::vec("[0-9a-fA-Fx .:_-]{0,40}|[a-z ]{0,10}", 0..30)) {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            block_round_trip(&lines);
        }

        #[test]
        fn decoding_an_arbitrary_block_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200), rows in 0usize..20, t0 in any::<i64>()) {
            let (mut text, mut ends) = (Vec::new(), Vec::new());
            let _ = decode_block(&b, rows, None, &mut text, &mut ends);
            let ts: Vec<i64> = (0..rows as i64).map(|i| t0.wrapping_add(i)).collect();
            let _ = decode_block(&b, rows, Some(&ts), &mut text, &mut ends);
        }

        #[test]
        fn any_lines_round_trip_as_a_timed_block(
            lines in proptest::collection::vec("[0-9a-fA-Fx .:_-]{0,40}|[a-z ]{0,10}", 0..30),
            t0 in any::<i64>(),
            step in 0i64..1_000_000_000_000,
        ) {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let ts: Vec<i64> = (0..lines.len() as i64).map(|i| t0.wrapping_add(i.wrapping_mul(step))).collect();
            block_round_trip_at(&lines, Some(&ts));
        }


        #[test]
        fn any_text_round_trips(line in ".{0,300}") {
            roundtrip(&line);
        }

        #[test]
        fn log_like_text_round_trips(line in "([a-zA-Z_=:. -]{0,6}([0-9]{1,25}|[0-9a-f]{6,40}|[0-9A-F]{6,40}|0x[0-9a-fA-F]{1,12}))*{0,12}") {
            roundtrip(&line);
        }

        #[test]
        fn number_columns_round_trip_as_a_timed_block(
            values in proptest::collection::vec((any::<u64>(), 1u32..20), 1..80),
            t0 in any::<i64>(),
        ) {
            let lines: Vec<String> = values
                .iter()
                .map(|&(v, w)| {
                    let v = v % 10u64.pow(w.min(19));
                    format!("a {v:0w$} b {} c", v % 1000, w = w as usize)
                })
                .collect();
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let ts: Vec<i64> = (0..lines.len() as i64).map(|i| t0.wrapping_add(i * 999_999_937)).collect();
            block_round_trip_at(&lines, Some(&ts));
        }

        #[test]
        fn text_around_uuids_round_trips(line in "([a-zA-Z0-9_=:. -]{0,4}([0-9a-f]{1,9}-[0-9a-f]{3,5}-[0-9a-f]{4}-[0-9a-fA-F]{4}-[0-9a-f]{11,13}|[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}))*{0,6}") {
            roundtrip(&line);
        }

        #[test]
        fn join_never_panics(skel in proptest::collection::vec(any::<u8>(), 0..64),
                             vars in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            let _ = join(&skel, &vars, &mut out);
        }
    }
}
