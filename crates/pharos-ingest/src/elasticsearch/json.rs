//! Readers of `_bulk` lines that see what `serde_json::from_slice::<Value>`
//! sees — the same values, objects in key order with the last of duplicate
//! keys winning (as in `serde_json::Map`) — without building a `Value` tree.
//!
//! A document line is read by a small hand-written reader ([`Document`]) into
//! its flattened leaves, strings borrowed from the body unless they have
//! escapes. It takes valid JSON objects only and gives up on anything it is
//! not sure of (a line that is not an object or not JSON, bad `\u` escapes,
//! deep nesting, `serde_json`'s private keys below); the caller reads those
//! as a `Value`, which has the errors.
//!
//! Action lines (mostly repeated, and remembered by the caller) are read by
//! `serde_json`'s parser through visitors that keep only what an action
//! needs ([`read_action`]): the parser, its errors and its recursion limit
//! are `serde_json`'s.
//!
//! `serde_json` gives the first key of an object a meaning of its own when
//! its `raw_value` or `arbitrary_precision` feature is on (which a crate
//! elsewhere in the build may turn on); the readers give up on such a key
//! so that the caller reads the line as a `Value` instead.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// The prefix of the keys `serde_json` treats specially (`$serde_json::private::RawValue`,
/// `$serde_json::private::Number`) as the first key of an object.
const PRIVATE_KEY_PREFIX: &str = "$serde_json::private::";

/// A leaf of a flattened document: a string, or a number, boolean or array
/// (shown as JSON text).
#[derive(Debug)]
pub(crate) enum Leaf<'a> {
    Str(Cow<'a, str>),
    Other(Value),
}

impl<'a> Leaf<'a> {
    /// The leaf as metadata text: a string as it is, anything else as JSON.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Leaf::Str(s) => Cow::Borrowed(s),
            Leaf::Other(v) => Cow::Owned(v.to_string()),
        }
    }

    /// [`Leaf::text`], owned, leaving an empty string behind.
    pub(crate) fn take_text(&mut self) -> String {
        match self {
            Leaf::Str(s) => std::mem::take(s).into_owned(),
            Leaf::Other(v) => v.to_string(),
        }
    }
}

/// A document value before flattening.
#[derive(Debug)]
enum Node<'a> {
    Null,
    Leaf(Leaf<'a>),
    /// Entries in key order, keys unique.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// Puts `entries` (in document order) in key order, keeping the last value
/// of each key, as inserting them into a `serde_json::Map` does.
fn sort_entries<T>(entries: &mut Vec<(Cow<'_, str>, T)>) {
    if entries.windows(2).all(|w| w[0].0 < w[1].0) {
        return;
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0)); // stable: equal keys stay in document order
    entries.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(&mut later.1, &mut kept.1);
        }
        same
    });
}

/// A document line read into its flattened leaves; reused from line to line
/// (all borrowing the body, `'a`).
#[derive(Debug, Default)]
pub(crate) struct Document<'a> {
    top: Vec<(Cow<'a, str>, Node<'a>)>,
    /// The leaves of the last object read: dotted paths and values, in the
    /// order of flattening the `Value` (keys sorted at every level). Nulls
    /// and empty objects have none.
    pub(crate) leaves: Vec<(Cow<'a, str>, Leaf<'a>)>,
    path: String,
}

impl<'a> Document<'a> {
    /// Reads `line`, if it is a JSON object this reader takes, into
    /// [`Document::leaves`] as `document::convert` flattens the `Value` of
    /// `serde_json::from_slice`. `false` for any other line: read that as a
    /// `Value`.
    pub(crate) fn read(&mut self, line: &'a [u8]) -> bool {
        self.top.clear();
        self.leaves.clear();
        if fast_object(line, &mut self.top).is_none() {
            self.top.clear();
            return false;
        }
        sort_entries(&mut self.top);
        self.leaves.reserve(self.top.len());
        for (k, v) in self.top.drain(..) {
            match v {
                Node::Null => {}
                Node::Leaf(l) => self.leaves.push((k, l)),
                Node::Object(entries) => {
                    self.path.clear();
                    self.path.push_str(&k);
                    flatten(&mut self.path, entries, &mut self.leaves);
                }
            }
        }
        true
    }
}

/// How deep [`fast_object`] follows nested objects (`serde_json` allows 128).
const FAST_MAX_DEPTH: usize = 16;

/// Reads the entries of a document line that is a JSON object into `top`,
/// in document order, each the value `serde_json` makes of it (numbers other
/// than plain integers are read by `serde_json`). `None` for bad `\u`
/// escapes (lone surrogates), nesting deeper than [`FAST_MAX_DEPTH`],
/// `serde_json`'s private keys and every line that is not a valid JSON
/// object. What this takes, `serde_json` reads as the same value.
fn fast_object<'a>(line: &'a [u8], top: &mut Vec<(Cow<'a, str>, Node<'a>)>) -> Option<()> {
    let mut s = Scan { b: line, i: 0 };
    s.ws();
    s.eat(b'{')?;
    s.object(top, 1)?;
    s.ws();
    (s.i == line.len()).then_some(())
}

/// A cursor over a line for [`fast_object`].
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// The entries of an object after its `{`, through its `}`.
    fn object(&mut self, out: &mut Vec<(Cow<'a, str>, Node<'a>)>, depth: usize) -> Option<()> {
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.eat(b'"')?;
            let k = self.string()?;
            if out.is_empty() && k.starts_with(PRIVATE_KEY_PREFIX) {
                return None;
            }
            self.ws();
            self.eat(b':')?;
            self.ws();
            let v = self.value(depth)?;
            out.push((k, v));
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn value(&mut self, depth: usize) -> Option<Node<'a>> {
        let rest = &self.b[self.i..];
        let (node, len) = match *rest.first()? {
            b'"' => {
                self.i += 1;
                return Some(Node::Leaf(Leaf::Str(self.string()?)));
            }
            b'{' => {
                if depth >= FAST_MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                let mut entries = Vec::new();
                self.object(&mut entries, depth + 1)?;
                sort_entries(&mut entries);
                return Some(Node::Object(entries));
            }
            b'[' => {
                if depth >= FAST_MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                return self.array(depth + 1).map(|a| Node::Leaf(Leaf::Other(a)));
            }
            b'-' | b'0'..=b'9' => return self.number().map(|n| Node::Leaf(Leaf::Other(n))),
            _ if rest.starts_with(b"true") => (Node::Leaf(Leaf::Other(Value::Bool(true))), 4),
            _ if rest.starts_with(b"false") => (Node::Leaf(Leaf::Other(Value::Bool(false))), 5),
            _ if rest.starts_with(b"null") => (Node::Null, 4),
            _ => return None,
        };
        self.i += len;
        Some(node)
    }

    /// A value inside an array, as the `Value` `serde_json` makes of it.
    fn json_value(&mut self, depth: usize) -> Option<Value> {
        let rest = &self.b[self.i..];
        let (v, len) = match *rest.first()? {
            b'"' => {
                self.i += 1;
                return Some(Value::String(self.string()?.into_owned()));
            }
            b'-' | b'0'..=b'9' => return self.number(),
            b'[' | b'{' if depth >= FAST_MAX_DEPTH => return None,
            b'[' => {
                self.i += 1;
                return self.array(depth + 1);
            }
            b'{' => {
                self.i += 1;
                return self.map(depth + 1);
            }
            _ if rest.starts_with(b"true") => (Value::Bool(true), 4),
            _ if rest.starts_with(b"false") => (Value::Bool(false), 5),
            _ if rest.starts_with(b"null") => (Value::Null, 4),
            _ => return None,
        };
        self.i += len;
        Some(v)
    }

    /// An array after its `[`, through its `]`, as the `Value` `serde_json`
    /// makes of it.
    fn array(&mut self, depth: usize) -> Option<Value> {
        let mut items = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.json_value(depth)?);
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b']' => {
                    self.i += 1;
                    return Some(Value::Array(items));
                }
                _ => return None,
            }
        }
    }

    /// An object inside an array, after its `{`, through its `}`, as the
    /// `Value` `serde_json` makes of it (entries inserted in order).
    fn map(&mut self, depth: usize) -> Option<Value> {
        let mut map = serde_json::Map::new();
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(Value::Object(map));
        }
        loop {
            self.eat(b'"')?;
            let k = self.string()?;
            if map.is_empty() && k.starts_with(PRIVATE_KEY_PREFIX) {
                return None;
            }
            self.ws();
            self.eat(b':')?;
            self.ws();
            let v = self.json_value(depth)?;
            map.insert(k.into_owned(), v);
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Some(Value::Object(map));
                }
                _ => return None,
            }
        }
    }

    /// A number as `serde_json` reads it: an integer of up to 18 digits
    /// here (`u64` if not negative, else `i64`; `-0` is a float there);
    /// anything else by `serde_json` itself, whose reading of a number
    /// depends only on its text (all of it: what follows a number cannot
    /// be `[0-9+.eE-]`).
    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.i += 1;
        }
        let span = &self.b[start..self.i];
        let (neg, digits) = match span.split_first() {
            Some((b'-', digits)) => (true, digits),
            _ => (false, span),
        };
        if !digits.is_empty()
            && digits.len() <= 18
            && digits.iter().all(u8::is_ascii_digit)
            && (digits[0] != b'0' || digits.len() == 1)
        {
            let n = digits
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            if !neg {
                return Some(Value::Number(n.into()));
            }
            if n != 0 {
                // Below 10^18: fits.
                return Some(Value::Number((-(n as i64)).into()));
            }
        }
        match serde_json::from_slice(span) {
            Ok(v @ Value::Number(_)) => Some(v),
            _ => None,
        }
    }

    /// A string after its opening `"`, through its closing one: borrowed
    /// without escapes, unescaped otherwise.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i += plain_len(self.b.get(self.i..)?);
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.i += 2;
                }
                _ => return None, // a control character
            }
        }
        let span = self.b.get(start..self.i)?;
        self.i += 1;
        let s = simdutf8::basic::from_utf8(span).ok()?;
        if escaped {
            unescape(s).map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(s))
        }
    }
}

/// The number of bytes before the first `"`, `\\` or control character
/// (`< 0x20`) of `s` (all of them if none), eight at a time.
fn plain_len(s: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = s.chunks_exact(8);
    for (k, w) in (&mut words).enumerate() {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let x = u64::from_le_bytes(a);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        // Per test, the lowest flagged byte is a byte that passes it; so is
        // the lowest flagged of all three.
        let found = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | x.wrapping_sub(ONES * 0x20) & !x)
            & HIGH;
        if found != 0 {
            return k * 8 + (found.trailing_zeros() / 8) as usize;
        }
    }
    let tail = words.remainder();
    let at = s.len() - tail.len();
    at + tail
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(tail.len())
}

/// The text of a JSON string's content with escapes, as `serde_json` reads
/// it; `None` for a bad escape (left to `serde_json`, which has the error).
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        // Escapes are ASCII: `i` and the end of an escape are char boundaries.
        out.push_str(s.get(start..i)?);
        let (c, len) = match *b.get(i + 1)? {
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'/' => ('/', 2),
            b'b' => ('\x08', 2),
            b'f' => ('\x0c', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            b'u' => match hex4(s, i + 2)? {
                // A surrogate pair, `\uD8xx\uDCxx`.
                high @ 0xD800..=0xDBFF => {
                    if s.get(i + 6..i + 8)? != "\\u" {
                        return None;
                    }
                    let low = hex4(s, i + 8)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    let c = 0x1_0000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    (char::from_u32(c)?, 12)
                }
                n => (char::from_u32(n)?, 6),
            },
            _ => return None,
        };
        out.push(c);
        i += len;
        start = i;
    }
    out.push_str(s.get(start..)?);
    Some(out)
}

/// The four hexadecimal digits at `at` in `s`.
fn hex4(s: &str, at: usize) -> Option<u32> {
    let h = s.get(at..at + 4)?;
    if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(h, 16).ok()
}

/// Appends the leaves of an object below `path` (dotted as `document::flatten`
/// does: no dot after an empty path).
fn flatten<'a>(
    path: &mut String,
    entries: Vec<(Cow<'a, str>, Node<'a>)>,
    out: &mut Vec<(Cow<'a, str>, Leaf<'a>)>,
) {
    for (k, v) in entries {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&k);
        match v {
            Node::Null => {}
            Node::Leaf(l) => out.push((Cow::Owned(path.clone()), l)),
            Node::Object(entries) => flatten(path, entries, out),
        }
        path.truncate(len);
    }
}

// ---- action lines ----

/// Why a line could not be read here.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Not JSON: the error `serde_json::from_slice::<Value>` gives.
    Json(serde_json::Error),
    /// A key `serde_json` may treat specially: read the line as a `Value`.
    Fallback,
}

/// Runs `seed` over `line` as `serde_json::from_slice` runs a `Deserialize`
/// (the value, then only whitespace to the end).
fn read<'a, S: DeserializeSeed<'a>>(
    line: &'a [u8],
    seed: S,
    fallback: &Cell<bool>,
) -> Result<S::Value, ReadError> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let out = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match out {
        Ok(v) => Ok(v),
        Err(_) if fallback.get() => Err(ReadError::Fallback),
        Err(e) => Err(ReadError::Json(e)),
    }
}

/// The Jackson token Elasticsearch names for a value that is not an object.
fn number_token(f: f64) -> &'static str {
    // `Value` keeps a float it cannot hold as `null` (JSON has none such).
    if Number::from_f64(f).is_some() {
        "VALUE_NUMBER"
    } else {
        "VALUE_NULL"
    }
}

/// An object key, borrowed from the line when it has no escapes. As the first
/// key of an object, a key `serde_json` may treat specially stops the read.
struct KeySeed<'s> {
    first: bool,
    fallback: &'s Cell<bool>,
}

impl<'a> DeserializeSeed<'a> for KeySeed<'_> {
    type Value = Cow<'a, str>;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Cow<'a, str>, D::Error> {
        let key = d.deserialize_str(StrVisitor)?;
        if self.first && key.starts_with(PRIVATE_KEY_PREFIX) {
            self.fallback.set(true);
            return Err(de::Error::custom("serde_json private key"));
        }
        Ok(key)
    }
}

struct StrVisitor;

impl<'a> Visitor<'a> for StrVisitor {
    type Value = Cow<'a, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E>(self, s: &'a str) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(s))
    }
}

/// A validated value that is not kept: its Jackson token.
struct SkipSeed<'s> {
    fallback: &'s Cell<bool>,
}

impl<'a> DeserializeSeed<'a> for SkipSeed<'_> {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'a> Visitor<'a> for SkipSeed<'_> {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<&'static str, E> {
        Ok("VALUE_BOOLEAN")
    }
    fn visit_i64<E>(self, _: i64) -> Result<&'static str, E> {
        Ok("VALUE_NUMBER")
    }
    fn visit_u64<E>(self, _: u64) -> Result<&'static str, E> {
        Ok("VALUE_NUMBER")
    }
    fn visit_f64<E>(self, n: f64) -> Result<&'static str, E> {
        Ok(number_token(n))
    }
    fn visit_str<E>(self, _: &str) -> Result<&'static str, E> {
        Ok("VALUE_STRING")
    }
    fn visit_unit<E>(self) -> Result<&'static str, E> {
        Ok("VALUE_NULL")
    }
    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<&'static str, A::Error> {
        let fallback = self.fallback;
        while seq.next_element_seed(SkipSeed { fallback })?.is_some() {}
        Ok("START_ARRAY")
    }
    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<&'static str, A::Error> {
        let fallback = self.fallback;
        let mut first = true;
        while map.next_key_seed(KeySeed { first, fallback })?.is_some() {
            first = false;
            map.next_value_seed(SkipSeed { fallback })?;
        }
        Ok("START_OBJECT")
    }
}

/// An `_index` or `_id` of an action line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    /// Absent or `null`.
    None,
    /// A string, number or boolean, as text.
    Text(String),
    /// An array or object (Jackson token).
    Complex(&'static str),
}

struct ParamSeed<'s> {
    fallback: &'s Cell<bool>,
}

impl<'a> DeserializeSeed<'a> for ParamSeed<'_> {
    type Value = Param;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Param, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'a> Visitor<'a> for ParamSeed<'_> {
    type Value = Param;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Param, E> {
        Ok(Param::Text(b.to_string()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Param, E> {
        Ok(Param::Text(Number::from(n).to_string()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Param, E> {
        Ok(Param::Text(Number::from(n).to_string()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Param, E> {
        Ok(match Number::from_f64(n) {
            Some(n) => Param::Text(n.to_string()),
            None => Param::None,
        })
    }
    fn visit_str<E>(self, s: &str) -> Result<Param, E> {
        Ok(Param::Text(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Param, E> {
        Ok(Param::Text(s))
    }
    fn visit_unit<E>(self) -> Result<Param, E> {
        Ok(Param::None)
    }
    fn visit_seq<A: SeqAccess<'a>>(self, seq: A) -> Result<Param, A::Error> {
        SkipSeed {
            fallback: self.fallback,
        }
        .visit_seq(seq)
        .map(Param::Complex)
    }
    fn visit_map<A: MapAccess<'a>>(self, map: A) -> Result<Param, A::Error> {
        SkipSeed {
            fallback: self.fallback,
        }
        .visit_map(map)
        .map(Param::Complex)
    }
}

/// The value of an action line's (only) key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Meta {
    /// An object: its `_index` and `_id` (the last of each).
    Object { index: Param, id: Param },
    /// Something else (Jackson token).
    Other(&'static str),
}

struct MetaSeed<'s> {
    fallback: &'s Cell<bool>,
}

impl<'a> DeserializeSeed<'a> for MetaSeed<'_> {
    type Value = Meta;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Meta, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'a> Visitor<'a> for MetaSeed<'_> {
    type Value = Meta;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Meta, E> {
        Ok(Meta::Other("VALUE_BOOLEAN"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Meta, E> {
        Ok(Meta::Other("VALUE_NUMBER"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Meta, E> {
        Ok(Meta::Other("VALUE_NUMBER"))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Meta, E> {
        Ok(Meta::Other(number_token(n)))
    }
    fn visit_str<E>(self, _: &str) -> Result<Meta, E> {
        Ok(Meta::Other("VALUE_STRING"))
    }
    fn visit_unit<E>(self) -> Result<Meta, E> {
        Ok(Meta::Other("VALUE_NULL"))
    }
    fn visit_seq<A: SeqAccess<'a>>(self, seq: A) -> Result<Meta, A::Error> {
        SkipSeed {
            fallback: self.fallback,
        }
        .visit_seq(seq)
        .map(Meta::Other)
    }
    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Meta, A::Error> {
        let fallback = self.fallback;
        let (mut index, mut id) = (Param::None, Param::None);
        let mut first = true;
        while let Some(k) = map.next_key_seed(KeySeed { first, fallback })? {
            first = false;
            match &*k {
                "_index" => index = map.next_value_seed(ParamSeed { fallback })?,
                "_id" => id = map.next_value_seed(ParamSeed { fallback })?,
                _ => {
                    map.next_value_seed(SkipSeed { fallback })?;
                }
            }
        }
        Ok(Meta::Object { index, id })
    }
}

/// An action line as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ActionLine<'a> {
    /// An object: its entries in key order, keys unique (the last of each).
    Object(Vec<(Cow<'a, str>, Meta)>),
    /// Something else (Jackson token).
    Other(&'static str),
}

struct ActionSeed<'s> {
    fallback: &'s Cell<bool>,
}

impl<'a> DeserializeSeed<'a> for ActionSeed<'_> {
    type Value = ActionLine<'a>;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<ActionLine<'a>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'a> Visitor<'a> for ActionSeed<'_> {
    type Value = ActionLine<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<ActionLine<'a>, E> {
        Ok(ActionLine::Other("VALUE_BOOLEAN"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<ActionLine<'a>, E> {
        Ok(ActionLine::Other("VALUE_NUMBER"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<ActionLine<'a>, E> {
        Ok(ActionLine::Other("VALUE_NUMBER"))
    }
    fn visit_f64<E>(self, n: f64) -> Result<ActionLine<'a>, E> {
        Ok(ActionLine::Other(number_token(n)))
    }
    fn visit_str<E>(self, _: &str) -> Result<ActionLine<'a>, E> {
        Ok(ActionLine::Other("VALUE_STRING"))
    }
    fn visit_unit<E>(self) -> Result<ActionLine<'a>, E> {
        Ok(ActionLine::Other("VALUE_NULL"))
    }
    fn visit_seq<A: SeqAccess<'a>>(self, seq: A) -> Result<ActionLine<'a>, A::Error> {
        SkipSeed {
            fallback: self.fallback,
        }
        .visit_seq(seq)
        .map(ActionLine::Other)
    }
    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<ActionLine<'a>, A::Error> {
        let fallback = self.fallback;
        let mut entries = Vec::with_capacity(1);
        let mut first = true;
        while let Some(k) = map.next_key_seed(KeySeed { first, fallback })? {
            first = false;
            let v = map.next_value_seed(MetaSeed { fallback })?;
            entries.push((k, v));
        }
        sort_entries(&mut entries);
        Ok(ActionLine::Object(entries))
    }
}

/// Reads an action line as `serde_json::from_slice::<Value>` does.
pub(crate) fn read_action(line: &[u8]) -> Result<ActionLine<'_>, ReadError> {
    let fallback = Cell::new(false);
    read(
        line,
        ActionSeed {
            fallback: &fallback,
        },
        &fallback,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn plain_len_stops_where_a_plain_search_does(
            s in prop::collection::vec(
                prop::sample::select(vec![b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x22 ^ 0x80]),
                0..40,
            )
        ) {
            let want = s.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).unwrap_or(s.len());
            prop_assert_eq!(plain_len(&s), want);
        }

        /// Whatever the fast reader's unescaping accepts, `serde_json` reads alike.
        #[test]
        fn unescaping_is_serde_jsons(s in "([a-z\u{e9}\u{1F600}]|\\\\[\"\\\\/bfnrtux]|\\\\u[0-9a-fA-F+]{0,4}|\\\\u[dD][89abAB][0-9a-f]{2}(\\\\u[dD][c-fC-F][0-9a-f]{2})?)*") {
            if let Some(u) = unescape(&s) {
                let quoted = format!("\"{s}\"");
                prop_assert_eq!(serde_json::from_str::<String>(&quoted).ok(), Some(u));
            }
        }
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape(r"a\nb\u00e9\/").as_deref(), Some("a\nb\u{e9}/"));
        assert_eq!(unescape(r"\ud83d\ude00!").as_deref(), Some("\u{1F600}!"));
        assert_eq!(unescape(r"\uDBFF\uDFFF").as_deref(), Some("\u{10FFFF}"));
        for bad in [
            r"\ud800",
            r"\udc00",
            r"\ud800\u0041",
            r"\ud800\ud800",
            r"\ud800x\udc00",
            r"\ude00\ud83d",
            r"\u+123",
            r"\u12",
            r"\x",
            "\\",
        ] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }
}
