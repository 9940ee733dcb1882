//! The token index of a segment: every distinct token of its lines, sorted,
//! with the row groups it occurs in.
//!
//! A *token* is a maximal run of token bytes: ASCII letters, digits, `_`,
//! and every byte of a non-ASCII character. A line filter `|= "L"` is a
//! substring search, so a matching line holds every token-byte run of `L`,
//! though a run at either end of `L` may be only part of a longer token of
//! the line. [`pieces`] turns `L` into those runs, each with how it must
//! appear: as a whole token, a token's prefix or suffix, or anywhere in a
//! token. [`TokenIndex::groups`] answers a piece exactly (never a group too
//! few), so a row group without it is skipped without being read.
//!
//! On disk (inside the segment index, `docs/format/logs-segment.md`), per
//! token-length bucket: the numbers among the tokens (decimal, and
//! lower-case hex) as sorted values, the others as sorted front-coded text,
//! then per token its number of row groups and their indexes as deltas, all
//! as varints. Decoded, a bucket is the tokens' text in three sorted runs.

use std::ops::Range;

use hashbrown::HashTable;
use memchr::memmem;

use super::codec::{put_uvarint, CodecError, Reader};

/// Whether `b` belongs to a token.
#[inline]
pub fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTE[b as usize]
}

static TOKEN_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
        i += 1;
    }
    t
};

/// Calls `f` with every token of `line`.
#[inline]
pub fn for_each_token<'a>(line: &'a [u8], mut f: impl FnMut(&'a [u8])) {
    // 64 bytes at a time: a bit mask of token bytes, walked by counting
    // trailing zeros; a token may run on into the next chunk.
    let n = line.len();
    let mut base = 0;
    let mut start: Option<usize> = None;
    while base < n {
        let end = (base + 64).min(n);
        let m = token_mask(&line[base..end]);
        let mut p = 0u32;
        loop {
            let from = u64::MAX << p;
            match start {
                Some(s) => {
                    let z = (!m & from).trailing_zeros();
                    if z as usize >= end - base {
                        break;
                    }
                    f(&line[s..base + z as usize]);
                    start = None;
                    p = z;
                }
                None => {
                    let o = (m & from).trailing_zeros();
                    if o == 64 {
                        break;
                    }
                    start = Some(base + o as usize);
                    p = o;
                }
            }
        }
        base = end;
    }
    if let Some(s) = start {
        f(&line[s..]);
    }
}

/// Bit `i` set when `chunk[i]` is a token byte (`chunk` at most 64 bytes).
#[inline]
fn token_mask(chunk: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if chunk.len() == 64 {
            return sse2::mask64(chunk);
        }
        let mut buf = [0u8; 64];
        buf[..chunk.len()].copy_from_slice(chunk);
        sse2::mask64(&buf)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        token_mask_scalar(chunk)
    }
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn token_mask_scalar(chunk: &[u8]) -> u64 {
    chunk
        .iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | (u64::from(is_token_byte(b)) << i))
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    /// The token-byte mask of exactly 64 bytes. SSE2 is part of x86_64.
    #[inline]
    pub(super) fn mask64(chunk: &[u8]) -> u64 {
        assert!(chunk.len() >= 64);
        let mut m = 0u64;
        for k in 0..4 {
            // SAFETY: 16 bytes at 16·k lie inside `chunk` (checked above);
            // the load is unaligned; SSE2 is always present on x86_64.
            let bits = unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr().add(16 * k).cast());
                class16(v)
            };
            m |= u64::from(bits) << (16 * k);
        }
        m
    }

    /// Token bytes among 16: `0-9`, `A-Z`, `a-z`, `_`, and 0x80 and above.
    /// A range test is a signed compare after shifting the range's start
    /// down to -128.
    #[inline]
    unsafe fn class16(v: __m128i) -> u16 {
        let in_range = |x: __m128i, lo: u8, len: u8| {
            let shifted = _mm_add_epi8(x, _mm_set1_epi8(0x80u8.wrapping_sub(lo) as i8));
            _mm_cmplt_epi8(shifted, _mm_set1_epi8((0x80u8.wrapping_add(len)) as i8))
        };
        let digit = in_range(v, b'0', 10);
        let letter = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', 26);
        let under = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'_' as i8));
        let any = _mm_or_si128(_mm_or_si128(digit, letter), _mm_or_si128(under, v));
        _mm_movemask_epi8(any) as u16
    }
}

/// How a piece of a searched literal must appear in a matching line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// As a whole token (bounded on both sides in the literal).
    Whole,
    /// As the start of a token (bounded on its left only).
    Prefix,
    /// As the end of a token (bounded on its right only).
    Suffix,
    /// Anywhere inside a token.
    Inside,
}

/// A token-byte run of a searched literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub text: Vec<u8>,
    pub fit: Fit,
}

/// The token-byte runs of `literal` with how each must appear in a line that
/// contains `literal`.
pub fn pieces(literal: &str) -> Vec<Piece> {
    let b = literal.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && !is_token_byte(b[i]) {
            i += 1;
        }
        let start = i;
        while i < b.len() && is_token_byte(b[i]) {
            i += 1;
        }
        if i > start {
            let left = start > 0;
            let right = i < b.len();
            let fit = match (left, right) {
                (true, true) => Fit::Whole,
                (true, false) => Fit::Prefix,
                (false, true) => Fit::Suffix,
                (false, false) => Fit::Inside,
            };
            out.push(Piece {
                text: b[start..i].to_vec(),
                fit,
            });
        }
    }
    out
}

/// The literals a line must contain (every clause, one of its choices),
/// checked on the raw bytes before an entry is built.
pub(crate) struct Required {
    clauses: Vec<Vec<memmem::Finder<'static>>>,
}

impl Required {
    pub(crate) fn new(contains: &[Vec<String>]) -> Required {
        Required {
            clauses: contains
                .iter()
                .map(|c| {
                    c.iter()
                        .map(|l| memmem::Finder::new(l.as_bytes()).into_owned())
                        .collect()
                })
                .collect(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// Whether `line` holds one literal of every clause.
    pub(crate) fn admits(&self, line: &[u8]) -> bool {
        self.clauses
            .iter()
            .all(|c| c.iter().any(|f| f.find(line).is_some()))
    }
}

/// Collects the tokens of a segment's lines while it is written.
///
/// Distinct tokens get dense ids from a hash table keyed by the token's
/// one-shot xxh3 hash; a (token, row group) pair is recorded the first time
/// the token shows up in a group. Groups arrive in increasing order, so the
/// pairs are already sorted by group and one counting pass by token rank
/// gives every token's postings in order.
#[derive(Default)]
pub struct TokenIndexBuilder<'a> {
    /// A small direct-mapped cache in front of `ids` holding tokens seen at
    /// least twice: the words of a log's templates recur on every line, and
    /// finding them here spares a cache miss in the big table.
    hot: Vec<HotSlot>,
    ids: HashTable<Slot>,
    tokens: Vec<&'a [u8]>,
    /// The last group each token was seen in (`u32::MAX`: none yet).
    last: Vec<u32>,
    /// (token id, group) once per group a token occurs in.
    pairs: Vec<(u32, u32)>,
}

/// A hash table slot: a token's first 16 bytes inline, so that most lookups
/// compare without reading the line the token came from.
#[derive(Clone, Copy)]
struct Slot {
    a: u64,
    b: u64,
    len: u32,
    id: u32,
}

impl Slot {
    /// No token has length 0.
    const EMPTY: Slot = Slot {
        a: 0,
        b: 0,
        len: 0,
        id: 0,
    };
}

/// A slot of the hot cache: a copy of the token's table slot and the last
/// group it was seen in (kept equal to `last[id]`), so that a recurring token
/// is handled without touching the big arrays.
#[derive(Clone, Copy)]
struct HotSlot {
    slot: Slot,
    last: u32,
}

impl HotSlot {
    const EMPTY: HotSlot = HotSlot {
        slot: Slot::EMPTY,
        last: u32::MAX,
    };
}

/// 16,384 slots of 32 bytes: 512 KiB, within a core's L2 cache on the
/// benchmark machine (1 MiB); a 4,096-slot cache sent more recurring tokens
/// (per-host values) to the big table.
const HOT_BITS: u32 = 14;
const HOT_SLOTS: usize = 1 << HOT_BITS;

/// The first 16 bytes of `t` as two big-endian words, zero-padded: comparing
/// them compares the tokens' prefixes in byte order (token bytes are never 0).
/// Built from overlapping word loads, not a copy into a buffer (a copy of a
/// variable length followed by word loads stalls store forwarding).
#[inline]
fn prefix_words(t: &[u8]) -> (u64, u64) {
    let n = t.len();
    if n >= 16 {
        return (be64(&t[..8]), be64(&t[8..16]));
    }
    if n > 8 {
        // The last 8 bytes, shifted so that only t[8..] remains.
        return (be64(&t[..8]), be64(&t[n - 8..]) << (8 * (16 - n)));
    }
    (upto8(t), 0)
}

#[inline]
fn be64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_be_bytes(w)
}

#[inline]
fn be32(b: &[u8]) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u64::from(u32::from_be_bytes(w))
}

/// Up to 8 bytes as a big-endian word, zero-padded.
#[inline]
fn upto8(t: &[u8]) -> u64 {
    let n = t.len();
    match n {
        8 => be64(t),
        4..=7 => (be32(t) << 32) | (be32(&t[n - 4..]) << (8 * (8 - n))),
        0 => 0,
        _ => {
            let mut w = 0u64;
            for (i, &b) in t.iter().enumerate() {
                w |= u64::from(b) << (56 - 8 * i);
            }
            w
        }
    }
}

#[inline]
fn token_hash(t: &[u8], a: u64, b: u64) -> u64 {
    if t.len() > 16 {
        return xxhash_rust::xxh3::xxh3_64(t);
    }
    // A folded multiply of the inline words and the length.
    let x = u128::from(a ^ 0x243f_6a88_85a3_08d3)
        * u128::from(b ^ 0x1319_8a2e_0370_7344 ^ (t.len() as u64).rotate_left(32));
    (x as u64) ^ ((x >> 64) as u64)
}

impl<'a> TokenIndexBuilder<'a> {
    /// A builder sized for about `distinct` tokens (growing past that).
    pub fn with_capacity(distinct: usize) -> Self {
        TokenIndexBuilder {
            hot: Vec::new(),
            ids: HashTable::with_capacity(distinct),
            tokens: Vec::with_capacity(distinct),
            last: Vec::with_capacity(distinct),
            pairs: Vec::new(),
        }
    }

    /// Adds the tokens of `line`, in row group `group` (groups are added in
    /// increasing order).
    pub fn add(&mut self, line: &'a [u8], group: u32) {
        let TokenIndexBuilder {
            hot,
            ids,
            tokens,
            last,
            pairs,
        } = self;
        if hot.is_empty() {
            hot.resize(HOT_SLOTS, HotSlot::EMPTY);
        }
        for_each_token(line, |t| {
            let (a, b) = prefix_words(t);
            let h = token_hash(t, a, b);
            let len = t.len() as u32;
            let same = |s: &Slot| {
                s.a == a
                    && s.b == b
                    && s.len == len
                    && (len <= 16 || tokens[s.id as usize][16..] == t[16..])
            };
            let hs = &mut hot[(h >> (64 - HOT_BITS)) as usize];
            if same(&hs.slot) {
                // The common case: a template word already seen in this group.
                if hs.last != group {
                    hs.last = group;
                    last[hs.slot.id as usize] = group;
                    pairs.push((hs.slot.id, group));
                }
                return;
            }
            match ids.find(h, same) {
                Some(&slot) => {
                    // Seen before: into the hot cache.
                    let l = &mut last[slot.id as usize];
                    if *l != group {
                        *l = group;
                        pairs.push((slot.id, group));
                    }
                    *hs = HotSlot { slot, last: group };
                }
                None => {
                    // New (most new tokens are one-off values): not cached.
                    let id = tokens.len() as u32;
                    let slot = Slot { a, b, len, id };
                    ids.insert_unique(h, slot, |s| token_hash(tokens[s.id as usize], s.a, s.b));
                    tokens.push(t);
                    last.push(group);
                    pairs.push((id, group));
                }
            }
        });
    }

    /// Encodes the index as one list of every token.
    pub fn encode(self) -> Vec<u8> {
        let all = self.encode_buckets_by(|_| (1, u32::MAX));
        all.into_iter().next().map(|b| b.bytes).unwrap_or_else(|| {
            // No token: the three counts, 0.
            vec![0, 0, 0]
        })
    }

    /// Encodes the index as one list per token-length bucket
    /// ([`length_bucket`]), shortest first, empty buckets left out: a
    /// search for a piece reads only the buckets of tokens at least as long.
    pub fn encode_buckets(self) -> Vec<EncodedBucket> {
        self.encode_buckets_by(length_bucket)
    }

    fn encode_buckets_by(self, bucket: impl Fn(usize) -> (u32, u32)) -> Vec<EncodedBucket> {
        let TokenIndexBuilder {
            hot,
            ids,
            tokens,
            last,
            pairs,
        } = self;
        drop(hot);
        drop(ids);
        drop(last);
        // By bucket, then bytes: sort on (bucket, 8-byte prefix) and compare
        // whole tokens only on equal prefixes.
        let mut keyed: Vec<(u32, u64, u32)> = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| (bucket(t.len()).0, prefix_words(t).0, id as u32))
            .collect();
        keyed.sort_unstable_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| tokens[a.2 as usize].cmp(tokens[b.2 as usize]))
        });
        let order: Vec<u32> = keyed.into_iter().map(|k| k.2).collect();
        // Rank of each token id in that order.
        let mut rank = vec![0u32; order.len()];
        for (r, &id) in order.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        // Postings by rank: a stable counting sort of the pairs, which are
        // in group order already.
        let mut post_start = vec![0u32; order.len() + 1];
        for &(id, _) in &pairs {
            post_start[rank[id as usize] as usize + 1] += 1;
        }
        for r in 0..order.len() {
            post_start[r + 1] += post_start[r];
        }
        let mut fill: Vec<u32> = post_start[..order.len()].to_vec();
        let mut postings = vec![0u32; pairs.len()];
        for &(id, g) in &pairs {
            let f = &mut fill[rank[id as usize] as usize];
            postings[*f as usize] = g;
            *f += 1;
        }
        drop(fill);
        drop(pairs);

        let mut out = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let b = bucket(tokens[order[i] as usize].len());
            let mut j = i;
            while j < order.len() && bucket(tokens[order[j] as usize].len()) == b {
                j += 1;
            }
            // The bucket's tokens by class, each class in byte order.
            let mut by_class: [Vec<u32>; 3] = Default::default();
            for &id in &order[i..j] {
                let c = Class::of(tokens[id as usize], b.0, b.1);
                by_class[c as usize].push(id);
            }
            let n = j - i;
            let text_len: usize = by_class[Class::Text as usize]
                .iter()
                .map(|&id| tokens[id as usize].len() + 2)
                .sum();
            let mut bytes = Vec::with_capacity(text_len + n * 6 + 16);
            put_uvarint(&mut bytes, n as u64);
            put_uvarint(&mut bytes, by_class[Class::Digits as usize].len() as u64);
            put_uvarint(&mut bytes, by_class[Class::Hex as usize].len() as u64);
            for (c, value) in [
                (Class::Digits, digits_value as fn(&[u8]) -> u64),
                (Class::Hex, hex_value),
            ] {
                let mut prev = 0u64;
                for &id in &by_class[c as usize] {
                    let v = value(tokens[id as usize]);
                    put_uvarint(&mut bytes, v - prev);
                    prev = v;
                }
            }
            let mut prev: &[u8] = &[];
            for &id in &by_class[Class::Text as usize] {
                let t = tokens[id as usize];
                let common = prev.iter().zip(t).take_while(|(a, b)| a == b).count();
                put_uvarint(&mut bytes, common as u64);
                put_uvarint(&mut bytes, (t.len() - common) as u64);
                bytes.extend_from_slice(&t[common..]);
                prev = t;
            }
            for &id in by_class.iter().flatten() {
                let r = rank[id as usize] as usize;
                let groups = &postings[post_start[r] as usize..post_start[r + 1] as usize];
                put_uvarint(&mut bytes, groups.len() as u64);
                let mut prev = 0;
                for &g in groups {
                    put_uvarint(&mut bytes, u64::from(g - prev));
                    prev = g;
                }
            }
            out.push(EncodedBucket {
                min_len: b.0,
                max_len: b.1,
                tokens: n as u32,
                bytes,
            });
            i = j;
        }
        out
    }
}

/// How a bucket stores a token: tokens of one length that are numbers in
/// decimal or lower-case hex are stored as their values (sorted, as
/// differences), which takes a fraction of their text; every other token as
/// text, front-coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// 1–19 decimal digits.
    Digits = 0,
    /// 1–16 characters of `0-9a-f`, not all digits.
    Hex = 1,
    Text = 2,
}

impl Class {
    /// The class of `t` in a bucket of tokens of `min_len..=max_len` bytes.
    fn of(t: &[u8], min_len: u32, max_len: u32) -> Class {
        if min_len != max_len {
            return Class::Text;
        }
        if t.len() <= 19 && t.iter().all(u8::is_ascii_digit) {
            Class::Digits
        } else if t.len() <= 16 && t.iter().all(|&c| is_lower_hex(c)) {
            Class::Hex
        } else {
            Class::Text
        }
    }
}

fn is_lower_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

/// The value of a token of decimal digits (at most 19).
fn digits_value(t: &[u8]) -> u64 {
    t.iter().fold(0, |v, &c| v * 10 + u64::from(c - b'0'))
}

/// The value of a token of lower-case hex digits (at most 16).
fn hex_value(t: &[u8]) -> u64 {
    t.iter().fold(0, |v, &c| {
        let d = if c.is_ascii_digit() {
            c - b'0'
        } else {
            c - b'a' + 10
        };
        (v << 4) | u64::from(d)
    })
}

/// Decoded token text is bounded (a front-coded list can describe far more
/// text than it takes): beyond this a bucket is refused as corrupt.
const MAX_TOKEN_TEXT: usize = 1 << 30;

/// The tokens whose length falls in `min_len..=max_len`, encoded as
/// [`TokenIndex::decode`] reads them.
pub struct EncodedBucket {
    pub min_len: u32,
    pub max_len: u32,
    pub tokens: u32,
    pub bytes: Vec<u8>,
}

/// The length bucket of a token of `len` bytes: one bucket per length up to
/// 24, then 25–32, 33–64 and longer. Most tokens are short and most needles
/// long, so a needle's search skips most of the index.
pub fn length_bucket(len: usize) -> (u32, u32) {
    match len {
        0..=24 => (len as u32, len as u32),
        25..=32 => (25, 32),
        33..=64 => (33, 64),
        _ => (65, u32::MAX),
    }
}

/// Whether a bucket of tokens `min_len..=max_len` can hold a token fitting `p`.
pub fn bucket_may_fit(p: &Piece, min_len: u32, max_len: u32) -> bool {
    let l = p.text.len() as u32;
    match p.fit {
        Fit::Whole => min_len <= l && l <= max_len,
        _ => max_len >= l,
    }
}

/// A decoded token index.
pub struct TokenIndex {
    /// Sorted tokens, each followed by a 0 byte.
    text: Vec<u8>,
    /// Where each token starts in `text`.
    starts: Vec<u32>,
    /// Where each token's postings start in `postings`.
    post_starts: Vec<u32>,
    postings: Vec<u8>,
    /// The tokens are sorted in runs, one per class: `0..sorted[0]`,
    /// `sorted[0]..sorted[1]`, `sorted[1]..sorted[2]`.
    sorted: [usize; 3],
}

impl TokenIndex {
    /// Decodes the bucket `b` of tokens of `min_len..=max_len` bytes, as
    /// [`TokenIndexBuilder::encode_buckets`] wrote it (an index from
    /// [`TokenIndexBuilder::encode`] is one bucket of `1..=u32::MAX`).
    pub fn decode(b: &[u8], min_len: u32, max_len: u32) -> Result<TokenIndex, CodecError> {
        let mut r = Reader::new(b, "log segment token index");
        let n = r.count()?;
        let n_digits = r.count()?;
        let n_hex = r.count()?;
        let n_text = n
            .checked_sub(n_digits)
            .and_then(|x| x.checked_sub(n_hex))
            .ok_or_else(|| r.err("class counts exceed the token count"))?;
        let width = min_len as usize;
        if (n_digits > 0 && (min_len != max_len || width == 0 || width > 19))
            || (n_hex > 0 && (min_len != max_len || width == 0 || width > 16))
        {
            return Err(r.err("number tokens in a bucket of several lengths"));
        }
        let numbers_len = (n_digits + n_hex) * (width + 1);
        if numbers_len >= MAX_TOKEN_TEXT {
            return Err(r.err("token text over 1 GiB"));
        }
        let mut text = Vec::with_capacity(numbers_len);
        let mut starts = Vec::with_capacity(n);
        for (count, base, max) in [
            (n_digits, 10u64, 10u64.checked_pow(width as u32)),
            (n_hex, 16, 16u64.checked_pow(width as u32)),
        ] {
            let mut v = 0u64;
            for k in 0..count {
                let d = r.uvarint()?;
                if k > 0 && d == 0 {
                    return Err(r.err("number tokens out of order"));
                }
                v = v
                    .checked_add(d)
                    .ok_or_else(|| r.err("number token too large"))?;
                if max.is_some_and(|m| v >= m) {
                    return Err(r.err("number token too large"));
                }
                starts.push(text.len() as u32);
                let at = text.len();
                text.resize(at + width, b'0');
                let mut x = v;
                for c in text[at..].iter_mut().rev() {
                    let d = (x % base) as u8;
                    *c = if d < 10 { b'0' + d } else { b'a' + d - 10 };
                    x /= base;
                }
                text.push(0);
            }
        }
        let mut prev = 0..0;
        for _ in 0..n_text {
            let common = r.uvarint()?;
            let suffix = r.bytes()?;
            let common = match usize::try_from(common) {
                Ok(c) if c <= prev.len() && !suffix.is_empty() => c,
                _ => return Err(r.err("front-coded token does not follow the previous one")),
            };
            if suffix.contains(&0) {
                return Err(r.err("token holds a 0 byte"));
            }
            if text.len() + common + suffix.len() >= MAX_TOKEN_TEXT {
                return Err(r.err("token text over 1 GiB"));
            }
            let at = text.len();
            text.extend_from_within(prev.start..prev.start + common);
            text.extend_from_slice(suffix);
            if !prev.is_empty() && text[at..] <= text[prev.clone()] {
                return Err(r.err("tokens out of order"));
            }
            starts.push(at as u32);
            prev = at..text.len();
            text.push(0);
        }
        Self::with_postings(text, starts, r.rest(), [n_digits, n_digits + n_hex, n])
    }

    /// Decodes a bucket of an index written before number tokens were
    /// stored as values (`PHXLSEG2`): the sorted tokens as text, each
    /// followed by a 0 byte, then the postings.
    pub fn decode_text(b: &[u8]) -> Result<TokenIndex, CodecError> {
        let mut r = Reader::new(b, "log segment token index");
        let n = r.count()?;
        let text_len = r.count()?;
        let text = r.take(text_len)?.to_vec();
        let mut starts = Vec::with_capacity(n);
        let mut at = 0usize;
        for end in memchr::memchr_iter(0, &text) {
            starts.push(at as u32);
            at = end + 1;
        }
        if starts.len() != n || at != text.len() {
            return Err(r.err("token count does not match the token text"));
        }
        Self::with_postings(text, starts, r.rest(), [0, 0, n])
    }

    /// The index of these tokens and `postings`, one list per token, which
    /// must be whole and fill it.
    fn with_postings(
        text: Vec<u8>,
        starts: Vec<u32>,
        postings: &[u8],
        sorted: [usize; 3],
    ) -> Result<TokenIndex, CodecError> {
        let n = starts.len();
        let mut post_starts = Vec::with_capacity(n);
        let mut pr = Reader::new(postings, "log segment token postings");
        for _ in 0..n {
            post_starts.push(pr.pos as u32);
            let k = pr.count()?;
            for _ in 0..k {
                pr.uvarint()?;
            }
        }
        pr.finish()?;
        Ok(TokenIndex {
            text,
            starts,
            post_starts,
            postings: postings.to_vec(),
            sorted,
        })
    }

    /// Heap bytes held (for the cache's budget).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.postings.capacity()
            + 4 * (self.starts.capacity() + self.post_starts.capacity())
    }

    /// Number of distinct tokens.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there is no token.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    fn token(&self, i: usize) -> &[u8] {
        let s = self.starts[i] as usize;
        let e = self
            .starts
            .get(i + 1)
            .map_or(self.text.len(), |&x| x as usize)
            - 1;
        &self.text[s..e]
    }

    #[cfg(test)]
    pub(crate) fn token_for_test(&self, i: usize) -> &[u8] {
        self.token(i)
    }

    #[cfg(test)]
    pub(crate) fn postings_for_test(&self, i: usize) -> usize {
        let mut r = Reader::new(&self.postings, "");
        r.pos = self.post_starts[i] as usize;
        r.count().unwrap_or(0)
    }

    #[cfg(test)]
    pub(crate) fn postings_len_for_test(&self) -> usize {
        self.postings.len()
    }

    /// This index in the layout [`TokenIndex::decode_text`] reads.
    #[cfg(test)]
    pub(crate) fn encode_text_for_test(&self) -> Vec<u8> {
        let mut all: Vec<(&[u8], &[u8])> = (0..self.len())
            .map(|i| {
                let end = self
                    .post_starts
                    .get(i + 1)
                    .map_or(self.postings.len(), |&e| e as usize);
                (
                    self.token(i),
                    &self.postings[self.post_starts[i] as usize..end],
                )
            })
            .collect();
        all.sort();
        let mut out = Vec::new();
        put_uvarint(&mut out, all.len() as u64);
        put_uvarint(&mut out, all.iter().map(|(t, _)| t.len() as u64 + 1).sum());
        for (t, _) in &all {
            out.extend_from_slice(t);
            out.push(0);
        }
        for (_, p) in &all {
            out.extend_from_slice(p);
        }
        out
    }

    /// The index of the token containing byte `at` of `text`.
    fn token_at(&self, at: usize) -> usize {
        self.starts.partition_point(|&s| s as usize <= at) - 1
    }

    fn add_postings(&self, i: usize, groups: &mut [bool]) {
        let mut r = Reader::new(&self.postings, "");
        r.pos = self.post_starts[i] as usize;
        let Ok(k) = r.count() else { return };
        let mut g = 0u64;
        for _ in 0..k {
            let Ok(d) = r.uvarint() else { return };
            g += d;
            if let Some(x) = groups.get_mut(g as usize) {
                *x = true;
            }
        }
    }

    /// The row groups (of `n_groups`) that hold a token fitting `p`.
    pub fn groups(&self, p: &Piece, n_groups: usize) -> Vec<bool> {
        let mut groups = vec![false; n_groups];
        self.add_groups(p, &mut groups);
        groups
    }

    /// Marks the groups of the tokens in `within` (a sorted run) that start
    /// with `t` (for [`Fit::Whole`], that are `t`).
    fn add_prefixed(&self, t: &[u8], fit: Fit, within: Range<usize>, groups: &mut [bool]) {
        // First token not below `t`.
        let (mut lo, mut hi) = (within.start, within.end);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.token(mid) < t {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        for i in lo..within.end {
            let tok = self.token(i);
            if !tok.starts_with(t) {
                break;
            }
            if fit == Fit::Prefix || tok.len() == t.len() {
                self.add_postings(i, groups);
            }
        }
    }

    /// Marks in `groups` the row groups that hold a token fitting `p`.
    pub fn add_groups(&self, p: &Piece, groups: &mut [bool]) {
        let t = p.text.as_slice();
        match p.fit {
            Fit::Whole | Fit::Prefix => {
                let mut from = 0;
                for to in self.sorted {
                    self.add_prefixed(t, p.fit, from..to, groups);
                    from = to;
                }
            }
            Fit::Suffix | Fit::Inside => {
                let finder = memmem::Finder::new(t);
                let mut pos = 0;
                while let Some(off) = finder.find(&self.text[pos..]) {
                    let i = self.token_at(pos + off);
                    if p.fit == Fit::Inside || self.token(i).ends_with(t) {
                        self.add_postings(i, groups);
                    }
                    // On to the next token (matches overlap within one).
                    match self.starts.get(i + 1) {
                        Some(&next) => pos = next as usize,
                        None => break,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn index(lines_by_group: &[&[&str]]) -> (TokenIndex, usize) {
        let mut b = TokenIndexBuilder::default();
        for (g, lines) in lines_by_group.iter().enumerate() {
            for l in *lines {
                b.add(l.as_bytes(), g as u32);
            }
        }
        (
            TokenIndex::decode(&b.encode(), 1, u32::MAX).expect("decodes"),
            lines_by_group.len(),
        )
    }

    fn hits(ix: &(TokenIndex, usize), literal: &str) -> Vec<Vec<usize>> {
        pieces(literal)
            .iter()
            .map(|p| {
                ix.0.groups(p, ix.1)
                    .iter()
                    .enumerate()
                    .filter(|(_, &x)| x)
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn tokens_and_pieces() {
        let mut v = Vec::new();
        for_each_token(b"GET /api/v1?x=blk_-12 caf\xc3\xa9!", |t| {
            v.push(t.to_vec())
        });
        let v: Vec<&[u8]> = v.iter().map(Vec::as_slice).collect();
        assert_eq!(
            v,
            vec![
                &b"GET"[..],
                b"api",
                b"v1",
                b"x",
                b"blk_",
                b"12",
                "café".as_bytes()
            ]
        );
        let p = pieces("ab cd-ef");
        assert_eq!(
            p.iter().map(|p| p.fit).collect::<Vec<_>>(),
            vec![Fit::Suffix, Fit::Whole, Fit::Prefix]
        );
        assert_eq!(pieces("abc")[0].fit, Fit::Inside);
        assert!(pieces("--").is_empty());
    }

    #[test]
    fn each_fit_finds_its_groups() {
        let ix = index(&[
            &["error in blk_123 at host-a"],
            &["warn blk_1234 host-b"],
            &["info xblk_123 host-c"],
        ]);
        assert_eq!(hits(&ix, " blk_123 "), vec![vec![0]]);
        assert_eq!(hits(&ix, " blk_123"), vec![vec![0, 1]]);
        assert_eq!(hits(&ix, "blk_123 "), vec![vec![0, 2]]);
        assert_eq!(hits(&ix, "blk_123"), vec![vec![0, 1, 2]]);
        assert_eq!(hits(&ix, "host-"), vec![vec![0, 1, 2]]);
        assert_eq!(hits(&ix, "nothing"), vec![Vec::<usize>::new()]);
    }

    /// Build cost of the index over a file of lines, in 2 MiB row groups as
    /// a segment writes them:
    /// `PHAROS_TOKENS_FILE=lines.txt cargo test --release -p pharos-logs
    /// --lib build_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn build_cost() {
        let Some(path) = std::env::var_os("PHAROS_TOKENS_FILE") else {
            eprintln!("PHAROS_TOKENS_FILE not set; skipped");
            return;
        };
        let text = std::fs::read(path).expect("reads the file");
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        for round in 0..3 {
            let t0 = std::time::Instant::now();
            let mut b = TokenIndexBuilder::with_capacity(text.len() / 190);
            let (mut group, mut bytes) = (0u32, 0usize);
            for l in &lines {
                b.add(l, group);
                bytes += l.len();
                if bytes >= 2 << 20 {
                    group += 1;
                    bytes = 0;
                }
            }
            let added = t0.elapsed();
            let buckets = b.encode_buckets();
            let all = t0.elapsed();
            let mib = text.len() as f64 / f64::from(1 << 20);
            eprintln!(
                "round {round}: add {:.2} ms/MiB, with encode {:.2} ms/MiB ({} buckets)",
                added.as_secs_f64() * 1e3 / mib,
                all.as_secs_f64() * 1e3 / mib,
                buckets.len()
            );
        }
    }

    #[test]
    fn prefix_words_are_the_zero_padded_first_16_bytes() {
        let text = b"abcdefghijklmnopqrstu";
        for n in 0..=text.len() {
            let t = &text[..n];
            let mut buf = [0u8; 16];
            let k = n.min(16);
            buf[..k].copy_from_slice(&t[..k]);
            let want = (be64(&buf[..8]), be64(&buf[8..]));
            assert_eq!(prefix_words(t), want, "length {n}");
        }
    }

    #[test]
    fn long_tokens_sharing_a_prefix_stay_apart() {
        // 16 bytes in common (the inline part of a hash slot), then apart;
        // and tokens that are prefixes of each other.
        let ix = index(&[
            &["aaaaaaaaaaaaaaaa_one aaaaaaaaaaaaaaaa"],
            &["aaaaaaaaaaaaaaaa_two aaaaaaaa"],
            &["aaaaaaaaaaaaaaaa_one aaaaaaaaaaaaaaa"],
        ]);
        assert_eq!(ix.0.len(), 5);
        assert_eq!(hits(&ix, " aaaaaaaaaaaaaaaa_one "), vec![vec![0, 2]]);
        assert_eq!(hits(&ix, " aaaaaaaaaaaaaaaa_two "), vec![vec![1]]);
        assert_eq!(hits(&ix, " aaaaaaaaaaaaaaaa "), vec![vec![0]]);
        assert_eq!(hits(&ix, " aaaaaaaaaaaaaaa "), vec![vec![2]]);
        assert_eq!(hits(&ix, " aaaaaaaa "), vec![vec![1]]);
    }

    #[test]
    fn numbers_are_stored_as_values_and_read_back_as_text() {
        let words = [
            "0",
            "7",
            "007",
            "1234",
            "12ab",
            "abcd",
            "ABCD",
            "9999999999999999999",
            "00000000000000000000",
            "deadbeef",
            "ffffffffffffffff",
            "0123456789abcdef0",
            "blk_12",
        ];
        let line = words.join(" ");
        let mut b = TokenIndexBuilder::default();
        b.add(line.as_bytes(), 0);
        let mut b2 = TokenIndexBuilder::default();
        b2.add(line.as_bytes(), 1);
        let mut got = Vec::new();
        let mut classes = Vec::new();
        for e in b.encode_buckets() {
            let ix = TokenIndex::decode(&e.bytes, e.min_len, e.max_len).expect("decodes");
            for i in 0..ix.len() {
                got.push(String::from_utf8(ix.token(i).to_vec()).expect("utf-8"));
                let c = ix.sorted.iter().position(|&end| i < end).expect("in a run");
                classes.push((got[got.len() - 1].clone(), c));
            }
        }
        got.sort();
        let mut want: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        want.sort();
        assert_eq!(got, want);
        let class = |w: &str| classes.iter().find(|(t, _)| t == w).map(|x| x.1);
        assert_eq!(class("007"), Some(Class::Digits as usize));
        assert_eq!(class("9999999999999999999"), Some(Class::Digits as usize));
        assert_eq!(class("00000000000000000000"), Some(Class::Text as usize));
        assert_eq!(class("ffffffffffffffff"), Some(Class::Hex as usize));
        assert_eq!(class("abcd"), Some(Class::Hex as usize));
        assert_eq!(class("ABCD"), Some(Class::Text as usize));
        assert_eq!(class("0123456789abcdef0"), Some(Class::Text as usize));
        // Whole and prefix searches across the classes of one bucket.
        let ix: Vec<(u32, u32, TokenIndex)> = b2
            .encode_buckets()
            .into_iter()
            .map(|e| {
                (
                    e.min_len,
                    e.max_len,
                    TokenIndex::decode(&e.bytes, e.min_len, e.max_len).expect("decodes"),
                )
            })
            .collect();
        let find = |lit: &str| {
            let mut g = vec![false; 2];
            for p in pieces(lit) {
                for (lo, hi, x) in &ix {
                    if bucket_may_fit(&p, *lo, *hi) {
                        x.add_groups(&p, &mut g);
                    }
                }
            }
            g
        };
        assert_eq!(find(" 1234 "), vec![false, true]);
        assert_eq!(find(" 12"), vec![false, true]);
        assert_eq!(find(" 1235 "), vec![false, false]);
        assert_eq!(find(" 0000000000000000000 "), vec![false, false]);
        assert_eq!(find("dbee"), vec![false, true]);
    }

    #[test]
    fn damaged_number_lists_are_errors() {
        // 2 tokens, both digits, of width 2: 5 then 5 again (not increasing).
        assert!(TokenIndex::decode(&[2, 2, 0, 5, 0, 1, 0, 1, 0], 2, 2).is_err());
        // A value of 3 digits in a bucket of 2.
        assert!(TokenIndex::decode(&[1, 1, 0, 100, 1, 0], 2, 2).is_err());
        // Digits in a bucket of several lengths.
        assert!(TokenIndex::decode(&[1, 1, 0, 5, 1, 0], 25, 32).is_err());
        // A front-coded token sharing more than the previous one has.
        assert!(TokenIndex::decode(&[1, 0, 0, 3, 1, b'a', 1, 0], 1, 9).is_err());
        // The same list, valid: 05 and 06.
        let ix = TokenIndex::decode(&[2, 2, 0, 5, 1, 1, 0, 1, 1], 2, 2).expect("valid");
        assert_eq!(ix.token(0), b"05");
        assert_eq!(ix.token(1), b"06");
    }

    /// The tokens of `line` one byte at a time: what the chunked scan must
    /// find.
    fn tokens_bytewise(line: &[u8]) -> Vec<&[u8]> {
        line.split(|&b| !is_token_byte(b))
            .filter(|t| !t.is_empty())
            .collect()
    }

    #[test]
    fn chunked_scan_at_chunk_edges() {
        for n in [0usize, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200] {
            for cut in [None, Some(0), Some(n / 2), Some(n.saturating_sub(1))] {
                let mut line = vec![b'a'; n];
                if let Some(c) = cut.filter(|&c| c < n) {
                    line[c] = b' ';
                }
                let mut got = Vec::new();
                for_each_token(&line, |t| got.push(t));
                assert_eq!(got, tokens_bytewise(&line), "length {n}, space at {cut:?}");
            }
        }
    }

    #[test]
    fn every_byte_class() {
        let all: Vec<u8> = (0..=255u8).collect();
        let mut got = Vec::new();
        for_each_token(&all, |t| got.push(t));
        assert_eq!(got, tokens_bytewise(&all));
        assert_eq!(token_mask(&all[..64]), token_mask_scalar(&all[..64]));
        assert_eq!(token_mask(&all[64..128]), token_mask_scalar(&all[64..128]));
        assert_eq!(
            token_mask(&all[128..192]),
            token_mask_scalar(&all[128..192])
        );
        assert_eq!(token_mask(&all[192..]), token_mask_scalar(&all[192..]));
    }

    proptest! {
        /// The chunked scan finds the tokens a byte-at-a-time scan finds.
        #[test]
        fn chunked_scan_is_bytewise(line in proptest::collection::vec(any::<u8>(), 0..300),
                                    sparse in proptest::collection::vec("[a-zA-Z0-9_é]{0,90}", 0..6)) {
            for l in [line.clone(), sparse.join(" -").into_bytes()] {
                let mut got = Vec::new();
                for_each_token(&l, |t| got.push(t));
                prop_assert_eq!(got, tokens_bytewise(&l));
            }
        }

        /// The index never misses a group whose lines contain the literal.
        #[test]
        fn never_misses(lines in proptest::collection::vec("[a-c _./-]{0,30}", 1..20),
                        pick in any::<prop::sample::Index>(),
                        from in 0usize..30, len in 1usize..8) {
            let groups: Vec<Vec<String>> = lines.chunks(3).map(|c| c.to_vec()).collect();
            let mut b = TokenIndexBuilder::default();
            for (g, ls) in groups.iter().enumerate() {
                for l in ls {
                    b.add(l.as_bytes(), g as u32);
                }
            }
            let ix = TokenIndex::decode(&b.encode(), 1, u32::MAX).expect("decodes");
            let line = pick.get(&lines);
            let from = from.min(line.len());
            let lit = &line[from..(from + len).min(line.len())];
            for p in pieces(lit) {
                let found = ix.groups(&p, groups.len());
                for (g, ls) in groups.iter().enumerate() {
                    if ls.iter().any(|l| l.contains(lit)) {
                        prop_assert!(found[g], "piece {:?} of {:?} missed group {}", p, lit, g);
                    }
                }
            }
        }

        /// Searching only the buckets that may fit finds what one list finds.
        #[test]
        fn buckets_find_what_one_list_finds(lines in proptest::collection::vec("[a-c _./-]{0,40}|[a-z]{20,70}|[0-9a-f _]{0,40}|[0-9 ]{0,60}", 1..20),
                                            pick in any::<prop::sample::Index>(),
                                            from in 0usize..60, len in 1usize..40) {
            let build = || {
                let mut b = TokenIndexBuilder::default();
                for (i, l) in lines.iter().enumerate() {
                    b.add(l.as_bytes(), (i / 3) as u32);
                }
                b
            };
            let n = lines.len().div_ceil(3);
            let one = TokenIndex::decode(&build().encode(), 1, u32::MAX).expect("decodes");
            let buckets: Vec<(u32, u32, TokenIndex)> = build()
                .encode_buckets()
                .into_iter()
                .map(|b| (b.min_len, b.max_len, TokenIndex::decode(&b.bytes, b.min_len, b.max_len).expect("decodes")))
                .collect();
            let line = pick.get(&lines);
            let from = from.min(line.len());
            let lit = &line[from..(from + len).min(line.len())];
            for p in pieces(lit) {
                let want = one.groups(&p, n);
                let mut got = vec![false; n];
                for (lo, hi, ix) in &buckets {
                    if bucket_may_fit(&p, *lo, *hi) {
                        ix.add_groups(&p, &mut got);
                    }
                }
                prop_assert_eq!(got, want, "piece {:?}", p);
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            for (lo, hi) in [(1, u32::MAX), (4, 4), (12, 12), (19, 19), (20, 20)] {
                if let Ok(ix) = TokenIndex::decode(&b, lo, hi) {
                    for p in pieces("ab cd") {
                        let _ = ix.groups(&p, 4);
                    }
                }
            }
            if let Ok(ix) = TokenIndex::decode_text(&b) {
                for p in pieces("ab cd") {
                    let _ = ix.groups(&p, 4);
                }
            }
        }
    }
}
