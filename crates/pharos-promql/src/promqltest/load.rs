//! Series descriptions of the promqltest format: `name{a="b"} 1+2x3 _ stale`.
//!
//! Used both by `load` blocks and by the expected-result lines of `eval`
//! blocks. Values expand as Prometheus's series-description grammar does:
//! `a+bxN` / `a-bxN` give N+1 values built by repeated addition, `axN`
//! repeats `a` N+1 times, `_` is one missing point and `_xN` N of them,
//! `stale` is the staleness marker. Native histograms are written
//! `{{schema:0 sum:5 count:4 buckets:[1 2 1] ...}}` and take the same
//! expanders: `{{a}}xN` repeats, `{{a}}+{{b}}xN` / `{{a}}-{{b}}xN` build
//! N+1 values by repeatedly adding (subtracting) `b` with the histogram
//! `add` (`sub`), as Prometheus's parser does, so the layout of the results
//! is that of histogram arithmetic.

use pharos_model::histogram::{CounterResetHint, FloatHistogram, Span};
use pharos_model::{Label, Labels, STALE_NAN};

/// One position of an expanded value sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum SeqValue {
    /// `_`: no point at this position.
    Omitted,
    /// A float value (including NaN, ±Inf and the stale marker).
    Float(f64),
    /// A native histogram value.
    Histogram {
        h: Box<FloatHistogram>,
        /// Whether the literal spelled `counter_reset_hint:` (for the
        /// increments of `{{a}}+{{b}}xN`: whether `b` did). An expected
        /// histogram's hint is only compared when it was given.
        hint_set: bool,
    },
}

impl SeqValue {
    /// True for [`SeqValue::Histogram`].
    pub fn is_histogram(&self) -> bool {
        matches!(self, SeqValue::Histogram { .. })
    }

    /// The histogram of a [`SeqValue::Histogram`].
    pub fn as_histogram(&self) -> Option<&FloatHistogram> {
        match self {
            SeqValue::Histogram { h, .. } => Some(h),
            _ => None,
        }
    }
}

/// A parsed series description line.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDesc {
    pub labels: Labels,
    pub values: Vec<SeqValue>,
}

/// Largest expansion count accepted (guards against absurd inputs).
const MAX_EXPANSION: u64 = 10_000_000;

/// Parses a whole series description line: labels, then values.
pub fn parse_series_desc(line: &str) -> Result<SeriesDesc, String> {
    let (labels, rest) = parse_metric(line)?;
    let values = parse_values(rest)?;
    Ok(SeriesDesc { labels, values })
}

/// Parses the metric part (`name`, `name{...}` or `{...}`) at the start of
/// `s`; returns the labels and the remaining text.
pub fn parse_metric(s: &str) -> Result<(Labels, &str), String> {
    let s = s.trim_start();
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut pairs: Vec<Label> = Vec::new();
    while i < bytes.len() && is_name_char(bytes[i], i == 0, true) {
        i += 1;
    }
    if i > 0 {
        pairs.push(Label {
            name: pharos_model::METRIC_NAME.to_string(),
            value: s[..i].to_string(),
        });
    }
    let mut rest = &s[i..];
    if rest.starts_with('{') {
        let (more, after) = parse_label_braces(rest, i > 0)?;
        pairs.extend(more);
        rest = after;
    } else if i == 0 {
        return Err(format!("expected a metric name or '{{' in {s:?}"));
    }
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!(
            "unexpected {:?} after the metric",
            first_word(rest)
        ));
    }
    let mut names: Vec<&str> = pairs.iter().map(|l| l.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("duplicate label name {:?}", w[0]));
    }
    Ok((Labels::from_vec(pairs), rest))
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or(s)
}

fn is_name_char(b: u8, first: bool, metric: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || (metric && b == b':') || (!first && b.is_ascii_digit())
}

/// Parses `{a="b", "c.d"="e", "metric.name"}`; returns the labels and the
/// text after the closing brace.
fn parse_label_braces(s: &str, has_name: bool) -> Result<(Vec<Label>, &str), String> {
    let mut out = Vec::new();
    let mut rest = s[1..].trim_start();
    let mut named = has_name;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((out, r));
        }
        // A label name: identifier or quoted string.
        let (name, r, quoted) = if rest.starts_with(['"', '\'', '`']) {
            let (v, r) = parse_string(rest)?;
            (v, r, true)
        } else {
            let b = rest.as_bytes();
            let mut j = 0;
            while j < b.len() && is_name_char(b[j], j == 0, false) {
                j += 1;
            }
            if j == 0 {
                return Err(format!("unexpected {:?} in label set", first_word(rest)));
            }
            (rest[..j].to_string(), &rest[j..], false)
        };
        let r = r.trim_start();
        if let Some(r) = r.strip_prefix('=') {
            let r = r.trim_start();
            let (value, r) = parse_string(r)?;
            out.push(Label { name, value });
            rest = r.trim_start();
        } else if quoted && !named && (r.starts_with(',') || r.starts_with('}')) {
            // `{"metric.name", ...}`: a quoted metric name.
            named = true;
            out.push(Label {
                name: pharos_model::METRIC_NAME.to_string(),
                value: name,
            });
            rest = r;
        } else {
            return Err(format!("expected '=' after label name {name:?}"));
        }
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.starts_with('}') {
            return Err(format!(
                "expected ',' or '}}' in label set, got {:?}",
                first_word(rest)
            ));
        }
    }
}

/// Parses a quoted string (`"..."` or `'...'` with Go escapes, or a raw
/// `` `...` ``) at the start of `s`; returns the value and the rest.
pub fn parse_string(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('"' | '\'' | '`'))) => q,
        _ => return Err(format!("expected a quoted string at {:?}", first_word(s))),
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, &s[i + c.len_utf8()..]));
        }
        if c == '\\' && quote != '`' {
            let Some((_, e)) = chars.next() else { break };
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '\\' | '"' | '\'' => out.push(e),
                'x' | 'u' | 'U' => {
                    let n = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let mut hex = String::new();
                    for _ in 0..n {
                        match chars.next() {
                            Some((_, h)) => hex.push(h),
                            None => return Err("unterminated escape in string".into()),
                        }
                    }
                    let code = u32::from_str_radix(&hex, 16)
                        .map_err(|_| format!("invalid escape \\{e}{hex}"))?;
                    if e == 'x' {
                        // A raw byte; keep it as the char of the same code
                        // point when ASCII, else as the replacement char.
                        out.push(
                            char::from_u32(code)
                                .filter(|c| c.is_ascii())
                                .unwrap_or('\u{fffd}'),
                        );
                    } else {
                        out.push(
                            char::from_u32(code)
                                .ok_or_else(|| format!("invalid escape \\{e}{hex}"))?,
                        );
                    }
                }
                '0'..='7' => {
                    let mut oct = String::from(e);
                    for _ in 0..2 {
                        match chars.next() {
                            Some((_, h)) => oct.push(h),
                            None => return Err("unterminated escape in string".into()),
                        }
                    }
                    let code = u32::from_str_radix(&oct, 8)
                        .map_err(|_| format!("invalid escape \\{oct}"))?;
                    out.push(
                        char::from_u32(code)
                            .filter(|c| c.is_ascii())
                            .unwrap_or('\u{fffd}'),
                    );
                }
                other => return Err(format!("unknown escape sequence \\{other}")),
            }
            continue;
        }
        out.push(c);
    }
    Err(format!("unterminated string {s:?}"))
}

/// Parses and expands the value sequence of a series description.
pub fn parse_values(s: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if rest.starts_with("{{") {
            rest = parse_histogram_item(rest, &mut out)?;
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..end];
            // `1+{{...}}` is not valid; a word may however run into `{{`
            // only in malformed input, which parse_word reports.
            parse_word(word, &mut out)?;
            rest = &rest[end..];
        }
        rest = rest.trim_start();
        if out.len() as u64 > MAX_EXPANSION {
            return Err("value sequence too long".into());
        }
    }
    Ok(out)
}

/// `{{h}}`, `{{h}}xN`, `{{h}}+{{d}}xN`, `{{h}}-{{d}}xN`.
fn parse_histogram_item<'a>(s: &'a str, out: &mut Vec<SeqValue>) -> Result<&'a str, String> {
    let (base, base_hint, rest) = parse_histogram_literal(s)?;
    let start_len = out.len();
    let rest = if let Some(r) = rest.strip_prefix(['+', '-']) {
        let add = rest.starts_with('+');
        let (inc, inc_hint, r) = parse_histogram_literal(r)?;
        let Some(r) = r.strip_prefix('x') else {
            return Err("expected 'x<count>' after a histogram increment".into());
        };
        let (n, r) = take_uint(r)?;
        if n >= MAX_EXPANSION {
            return Err("expansion count too large".into());
        }
        // As in Prometheus, every value carries the increment's "hint set"
        // flag (the last histogram its parser built).
        out.push(SeqValue::Histogram {
            h: Box::new(base.clone()),
            hint_set: inc_hint,
        });
        let mut cur = base;
        for _ in 0..n {
            if cur.schema > inc.schema {
                return Err(format!(
                    "error combining histograms: cannot merge from schema {} to {}",
                    inc.schema, cur.schema
                ));
            }
            let mut next = cur.clone();
            let res = if add { next.add(&inc) } else { next.sub(&inc) };
            res.map_err(|e| format!("error combining histograms: {e}"))?;
            out.push(SeqValue::Histogram {
                h: Box::new(next.clone()),
                hint_set: inc_hint,
            });
            cur = next;
        }
        r
    } else if let Some(r) = rest.strip_prefix('x') {
        let (n, r) = take_uint(r)?;
        if n >= MAX_EXPANSION {
            return Err("expansion count too large".into());
        }
        for _ in 0..=n {
            out.push(SeqValue::Histogram {
                h: Box::new(base.clone()),
                hint_set: base_hint,
            });
        }
        r
    } else {
        out.push(SeqValue::Histogram {
            h: Box::new(base),
            hint_set: base_hint,
        });
        rest
    };
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        out.truncate(start_len);
        return Err(format!(
            "unexpected {:?} after a histogram",
            first_word(rest)
        ));
    }
    Ok(rest)
}

/// Parses one `{{...}}` literal at the start of `s`: returns the histogram,
/// whether `counter_reset_hint` was given, and the text after `}}`.
///
/// Keys (each at most once): `schema` (integer), `sum`, `count`,
/// `z_bucket` (numbers, may be signed), `z_bucket_w` (unsigned number),
/// `buckets`, `n_buckets`, `custom_values` (`[n n ...]`), `offset`,
/// `n_offset` (integers), `counter_reset_hint`
/// (`unknown`/`reset`/`not_reset`/`gauge`). The buckets given form one span
/// starting at the offset (0 by default).
pub fn parse_histogram_literal(s: &str) -> Result<(FloatHistogram, bool, &str), String> {
    let Some(body_start) = s.strip_prefix("{{") else {
        return Err(format!("expected '{{{{' at {:?}", first_word(s)));
    };
    let Some(end) = body_start.find("}}") else {
        return Err(format!("unterminated native histogram {s:?}"));
    };
    let body = &body_start[..end];
    let rest = &body_start[end + 2..];
    let mut desc = HistDesc::default();
    let mut r = body.trim_start();
    while !r.is_empty() {
        let kend = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(r.len());
        let key = &r[..kend];
        if key.is_empty() {
            return Err(format!(
                "unexpected {:?} in histogram description, expected a key such as buckets:[5 10 7]",
                first_word(r)
            ));
        }
        let Some(after) = r[kend..].strip_prefix(':') else {
            return Err(format!(
                "expected ':' after histogram description key {key:?}"
            ));
        };
        let after_value = match key {
            "buckets" | "n_buckets" | "custom_values" => {
                let (list, r2) = parse_bucket_set(after, key)?;
                let slot = match key {
                    "buckets" => &mut desc.buckets,
                    "n_buckets" => &mut desc.n_buckets,
                    _ => &mut desc.custom_values,
                };
                set_once(slot, list, key)?;
                r2
            }
            _ => {
                let vend = after.find(char::is_whitespace).unwrap_or(after.len());
                let word = &after[..vend];
                match key {
                    "schema" => set_once(&mut desc.schema, hist_int(word, key)?, key)?,
                    "offset" => set_once(&mut desc.offset, hist_int(word, key)?, key)?,
                    "n_offset" => set_once(&mut desc.n_offset, hist_int(word, key)?, key)?,
                    "sum" => set_once(&mut desc.sum, hist_float(word, key, true)?, key)?,
                    "count" => set_once(&mut desc.count, hist_float(word, key, true)?, key)?,
                    "z_bucket" => set_once(&mut desc.z_bucket, hist_float(word, key, true)?, key)?,
                    "z_bucket_w" => {
                        set_once(&mut desc.z_bucket_w, hist_float(word, key, false)?, key)?
                    }
                    "counter_reset_hint" => {
                        let hint = match word {
                            "unknown" => CounterResetHint::Unknown,
                            "reset" => CounterResetHint::CounterReset,
                            "not_reset" => CounterResetHint::NotCounterReset,
                            "gauge" => CounterResetHint::Gauge,
                            other => {
                                return Err(format!(
                                    "invalid counter_reset_hint {other:?} (expected unknown, reset, not_reset or gauge)"
                                ))
                            }
                        };
                        set_once(&mut desc.hint, hint, key)?
                    }
                    other => return Err(format!("unknown histogram description key {other:?}")),
                }
                &after[vend..]
            }
        };
        if !(after_value.is_empty() || after_value.starts_with(char::is_whitespace)) {
            return Err(format!(
                "unexpected {:?} after histogram description key {key:?}",
                first_word(after_value)
            ));
        }
        r = after_value.trim_start();
    }
    let hint_set = desc.hint.is_some();
    Ok((desc.build(), hint_set, rest))
}

#[derive(Default)]
struct HistDesc {
    schema: Option<i64>,
    sum: Option<f64>,
    count: Option<f64>,
    z_bucket: Option<f64>,
    z_bucket_w: Option<f64>,
    buckets: Option<Vec<f64>>,
    offset: Option<i64>,
    n_buckets: Option<Vec<f64>>,
    n_offset: Option<i64>,
    custom_values: Option<Vec<f64>>,
    hint: Option<CounterResetHint>,
}

impl HistDesc {
    fn build(self) -> FloatHistogram {
        let spans = |buckets: &[f64], offset: Option<i64>| {
            if buckets.is_empty() {
                Vec::new()
            } else {
                vec![Span::new(offset.unwrap_or(0) as i32, buckets.len() as u32)]
            }
        };
        let positive_buckets = self.buckets.unwrap_or_default();
        let negative_buckets = self.n_buckets.unwrap_or_default();
        FloatHistogram {
            counter_reset_hint: self.hint.unwrap_or_default(),
            schema: self.schema.unwrap_or(0) as i32,
            zero_threshold: self.z_bucket_w.unwrap_or(0.0),
            zero_count: self.z_bucket.unwrap_or(0.0),
            count: self.count.unwrap_or(0.0),
            sum: self.sum.unwrap_or(0.0),
            positive_spans: spans(&positive_buckets, self.offset),
            negative_spans: spans(&negative_buckets, self.n_offset),
            positive_buckets,
            negative_buckets,
            custom_values: self.custom_values.unwrap_or_default(),
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, v: T, key: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("duplicate key \"{key}\" in histogram"));
    }
    *slot = Some(v);
    Ok(())
}

/// An integer of a histogram description (`schema`, `offset`, `n_offset`):
/// decimal digits with an optional `-`.
fn hist_int(word: &str, key: &str) -> Result<i64, String> {
    let (neg, digits) = match word.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, word),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid integer {word:?} for histogram key {key:?}"
        ));
    }
    let v: i64 = digits
        .parse()
        .map_err(|_| format!("invalid integer {word:?} for histogram key {key:?}"))?;
    let v = if neg { -v } else { v };
    if i32::try_from(v).is_err() {
        return Err(format!(
            "integer {word:?} out of range for histogram key {key:?}"
        ));
    }
    Ok(v)
}

/// A number of a histogram description: as in PromQL (integers in any Go
/// base, floats, `Inf`, `NaN`, or a duration in seconds), optionally signed.
fn hist_float(word: &str, key: &str, signed: bool) -> Result<f64, String> {
    let bad = || format!("invalid number {word:?} for histogram key {key:?}");
    let (neg, body) = match word.as_bytes().first() {
        Some(b'-') if signed => (true, &word[1..]),
        Some(b'+') if signed => (false, &word[1..]),
        _ => (false, word),
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return Err(bad());
    }
    let v = match parse_number(body) {
        Some(v) => v,
        None => {
            let d = pharos_model::duration::parse_duration(body).map_err(|_| bad())?;
            d.as_secs_f64()
        }
    };
    Ok(if neg { -v } else { v })
}

/// `[n n ...]` right after `key:`; returns the numbers and the rest.
fn parse_bucket_set<'a>(s: &'a str, key: &str) -> Result<(Vec<f64>, &'a str), String> {
    let Some(inner) = s.strip_prefix('[') else {
        return Err(format!(
            "expected '[' after histogram description key {key:?}"
        ));
    };
    let Some(end) = inner.find(']') else {
        return Err(format!(
            "unterminated bucket list for histogram key {key:?}"
        ));
    };
    let list = inner[..end]
        .split_whitespace()
        .map(|w| hist_float(w, key, true))
        .collect::<Result<Vec<f64>, String>>()?;
    Ok((list, &inner[end + 1..]))
}

fn take_uint(s: &str) -> Result<(u64, &str), String> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return Err(format!("expected a repetition count at {s:?}"));
    }
    let n: u64 = s[..end]
        .parse()
        .map_err(|_| format!("invalid repetition count {:?}", &s[..end]))?;
    Ok((n, &s[end..]))
}

/// One whitespace-free value item.
fn parse_word(word: &str, out: &mut Vec<SeqValue>) -> Result<(), String> {
    let bad = || format!("invalid value {word:?}");
    if word == "_" {
        out.push(SeqValue::Omitted);
        return Ok(());
    }
    if let Some(r) = word.strip_prefix("_x") {
        let (n, r) = take_uint(r).map_err(|_| bad())?;
        if !r.is_empty() || n > MAX_EXPANSION {
            return Err(bad());
        }
        out.extend(std::iter::repeat_n(SeqValue::Omitted, n as usize));
        return Ok(());
    }
    if word == "stale" {
        out.push(SeqValue::Float(STALE_NAN));
        return Ok(());
    }
    let (start, rest) = take_number(word, true).ok_or_else(bad)?;
    if rest.is_empty() {
        out.push(SeqValue::Float(start));
        return Ok(());
    }
    let (step, rest) = if rest.starts_with(['+', '-']) {
        let (d, r) = take_number(rest, true).ok_or_else(bad)?;
        (d, r)
    } else {
        (0.0, rest)
    };
    let Some(r) = rest.strip_prefix('x') else {
        return Err(bad());
    };
    let (n, r) = take_uint(r).map_err(|_| bad())?;
    if !r.is_empty() || n > MAX_EXPANSION {
        return Err(bad());
    }
    let mut v = start;
    for _ in 0..=n {
        out.push(SeqValue::Float(v));
        v += step;
    }
    Ok(())
}

/// Reads a number at the start of `s` (optionally signed): decimal, float
/// with exponent, `Inf`, `NaN`. Returns it and the rest. No hexadecimal:
/// in a series description `0x5` is zero repeated (5+1 times).
fn take_number(s: &str, allow_sign: bool) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut neg = false;
    if allow_sign && i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let body = &s[i..];
    let lower = body.to_ascii_lowercase();
    let sign = if neg { -1.0 } else { 1.0 };
    for (kw, v) in [
        ("infinity", f64::INFINITY),
        ("inf", f64::INFINITY),
        ("nan", f64::NAN),
    ] {
        if lower.starts_with(kw) {
            let v = if v.is_nan() { v } else { sign * v };
            return Some((v, &body[kw.len()..]));
        }
    }
    let bb = body.as_bytes();
    let mut j = 0;
    while j < bb.len() && bb[j].is_ascii_digit() {
        j += 1;
    }
    let int_digits = j;
    let mut frac_digits = 0;
    if j < bb.len() && bb[j] == b'.' {
        j += 1;
        while j < bb.len() && bb[j].is_ascii_digit() {
            j += 1;
            frac_digits += 1;
        }
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if j < bb.len() && (bb[j] == b'e' || bb[j] == b'E') {
        let mut k = j + 1;
        if k < bb.len() && (bb[k] == b'+' || bb[k] == b'-') {
            k += 1;
        }
        let ds = k;
        while k < bb.len() && bb[k].is_ascii_digit() {
            k += 1;
        }
        if k > ds {
            j = k;
        }
    }
    let v: f64 = body[..j].parse().ok()?;
    Some((sign * v, &body[j..]))
}

/// Parses a bare number as the reference runner does for scalar result
/// lines: an integer (decimal, `0x` hex, `0o`/leading-zero octal, `0b`
/// binary) or a float (including `Inf`, `NaN`).
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(v) = parse_go_int(s) {
        return Some(v);
    }
    let (v, rest) = take_number(s, true)?;
    rest.is_empty().then_some(v)
}

fn parse_go_int(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let body = body.replace('_', "");
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    if digits.is_empty() {
        return None;
    }
    let n = i64::from_str_radix(&digits, radix).ok()?;
    let v = n as f64;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(s: &str) -> Vec<f64> {
        parse_values(s)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                SeqValue::Float(f) => f,
                other => panic!("not a float: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn expansions() {
        assert_eq!(floats("1+2x3"), vec![1.0, 3.0, 5.0, 7.0]);
        assert_eq!(floats("10-2x2"), vec![10.0, 8.0, 6.0]);
        assert_eq!(floats("-1-1x2"), vec![-1.0, -2.0, -3.0]);
        assert_eq!(floats("5x2"), vec![5.0, 5.0, 5.0]);
        assert_eq!(floats("0+0.5x1"), vec![0.0, 0.5]);
        assert_eq!(
            floats("1e3 .5 -2.5E-1 +Inf -Inf"),
            vec![1000.0, 0.5, -0.25, f64::INFINITY, f64::NEG_INFINITY]
        );
        assert_eq!(floats("0x2 3+0x1"), vec![0.0, 0.0, 0.0, 3.0, 3.0]);
        assert_eq!(floats("1+1e1x1"), vec![1.0, 11.0]);
    }

    #[test]
    fn blanks_stale_nan() {
        let v = parse_values("_ _x3 stale NaN 1").unwrap();
        assert_eq!(v.len(), 7);
        assert_eq!(v[0], SeqValue::Omitted);
        assert_eq!(v[3], SeqValue::Omitted);
        match v[4] {
            SeqValue::Float(f) => assert!(pharos_model::is_stale_nan(f)),
            _ => panic!(),
        }
        match v[5] {
            SeqValue::Float(f) => assert!(f.is_nan() && !pharos_model::is_stale_nan(f)),
            _ => panic!(),
        }
    }

    fn hist(s: &str) -> (FloatHistogram, bool) {
        let (h, set, rest) = parse_histogram_literal(s).unwrap();
        assert!(rest.is_empty(), "{rest:?}");
        (h, set)
    }

    #[test]
    fn histogram_literals() {
        let (h, set) = hist(
            "{{schema:1 sum:-5.5 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 2 0x1] offset:-2 n_buckets:[ 3 ] n_offset:4 counter_reset_hint:gauge}}",
        );
        assert!(set);
        assert_eq!(h.schema, 1);
        assert_eq!((h.sum, h.count), (-5.5, 4.0));
        assert_eq!((h.zero_count, h.zero_threshold), (1.0, 0.001));
        assert_eq!(h.positive_buckets, vec![1.0, 2.0, 1.0]);
        assert_eq!(h.positive_spans, vec![Span::new(-2, 3)]);
        assert_eq!(h.negative_buckets, vec![3.0]);
        assert_eq!(h.negative_spans, vec![Span::new(4, 1)]);
        assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);

        let (h, set) = hist("{{}}");
        assert!(!set);
        assert_eq!(h, FloatHistogram::default());
        assert_eq!(hist("{{ }}").0, FloatHistogram::default());

        let (h, _) = hist("{{schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1] counter_reset_hint:not_reset}}");
        assert!(h.uses_custom_buckets());
        assert_eq!(h.custom_values, vec![5.0, 10.0]);
        assert_eq!(h.counter_reset_hint, CounterResetHint::NotCounterReset);
        // An explicit `unknown` counts as set.
        assert!(hist("{{counter_reset_hint:unknown}}").1);
        assert_eq!(hist("{{count:Inf sum:NaN}}").0.count, f64::INFINITY);
        assert!(hist("{{sum:NaN}}").0.sum.is_nan());
    }

    #[test]
    fn histogram_literal_errors() {
        for bad in [
            "{{schema:1",
            "{{schema:1 schema:2}}",
            "{{bogus:1}}",
            "{{schema:x}}",
            "{{schema:1.5}}",
            "{{buckets:1}}",
            "{{buckets:[1 2}}",
            "{{counter_reset_hint:maybe}}",
            "{{sum}}",
            "{{z_bucket_w:-1}}",
        ] {
            assert!(parse_histogram_literal(bad).is_err(), "{bad}");
        }
        assert!(parse_values("{{sum:1}}y").is_err());
        assert!(parse_values("{{sum:1}}+{{sum:1}}").is_err());
        assert!(parse_values("{{sum:1}}+3x2").is_err());
    }

    #[test]
    fn histogram_sequences() {
        let v = parse_values(
            "{{schema:0 sum:5 count:4 buckets:[1 2 1]}} 1 {{}}x2 {{sum:1}}+{{sum:2}}x1 _",
        )
        .unwrap();
        assert_eq!(v.len(), 1 + 1 + 3 + 2 + 1);
        assert_eq!(v[0].as_histogram().map(|h| h.count), Some(4.0));
        assert_eq!(v[1], SeqValue::Float(1.0));
        assert!(v[2..7].iter().all(SeqValue::is_histogram));
        assert_eq!(v[7], SeqValue::Omitted);
        // `{{a}}+{{b}}xN`: the base, then N sums (histogram addition).
        assert_eq!(v[5].as_histogram().map(|h| h.sum), Some(1.0));
        assert_eq!(v[6].as_histogram().map(|h| h.sum), Some(3.0));
        let v =
            parse_values("{{sum:1 count:2}}+{{sum:2 count:1 counter_reset_hint:gauge}}x2").unwrap();
        assert_eq!(v.len(), 3);
        // Every value carries the increment's "hint set" flag.
        assert!(v
            .iter()
            .all(|x| matches!(x, SeqValue::Histogram { hint_set: true, .. })));
        let v = parse_values("{{sum:1 counter_reset_hint:reset}}x1").unwrap();
        assert!(v
            .iter()
            .all(|x| matches!(x, SeqValue::Histogram { hint_set: true, .. })));
        // Combining into a higher schema is refused.
        let err = parse_values("{{schema:1}}+{{schema:0}}x1").unwrap_err();
        assert!(err.contains("cannot merge from schema 0 to 1"), "{err}");
    }

    #[test]
    fn metrics() {
        let d = parse_series_desc(r#"http_requests{job="api", instance="0"} 1 2"#).unwrap();
        assert_eq!(
            d.labels.to_string(),
            r#"http_requests{instance="0", job="api"}"#
        );
        assert_eq!(d.values.len(), 2);
        let d = parse_series_desc("{} 1").unwrap();
        assert!(d.labels.is_empty());
        let d = parse_series_desc(r#"{__name__="x",a="b\"c\n"} 1"#).unwrap();
        assert_eq!(d.labels.get("__name__"), Some("x"));
        assert_eq!(d.labels.get("a"), Some("b\"c\n"));
        let d = parse_series_desc(r#"{"my.metric", "a.b"="c"} 1"#).unwrap();
        assert_eq!(d.labels.get("__name__"), Some("my.metric"));
        assert_eq!(d.labels.get("a.b"), Some("c"));
        let d = parse_series_desc("metric:rate_5m").unwrap();
        assert_eq!(d.labels.metric_name(), Some("metric:rate_5m"));
        assert!(d.values.is_empty());
    }

    #[test]
    fn errors() {
        assert!(parse_series_desc("x{a=\"b\" 1").is_err());
        assert!(parse_series_desc("x 1+2").is_err());
        assert!(parse_series_desc("x abc").is_err());
        assert!(parse_series_desc("x{a=\"1\",a=\"2\"} 1").is_err());
        assert!(parse_series_desc("x {{schema:1").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("42"), Some(42.0));
        assert_eq!(parse_number("-3.5"), Some(-3.5));
        assert_eq!(parse_number("0x10"), Some(16.0));
        assert_eq!(parse_number("010"), Some(8.0));
        assert_eq!(parse_number("1e-3"), Some(0.001));
        assert_eq!(parse_number("+Inf"), Some(f64::INFINITY));
        assert!(parse_number("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_number("foo"), None);
        assert_eq!(parse_number("{} 1"), None);
        assert_eq!(parse_number("1 2"), None);
    }
}
