//! Series descriptions of the promqltest format: `name{a="b"} 1+2x3 _ stale`.
//!
//! Used both by `load` blocks and by the expected-result lines of `eval`
//! blocks. Values expand as Prometheus's series-description grammar does:
//! `a+bxN` / `a-bxN` give N+1 values built by repeated addition, `axN`
//! repeats `a` N+1 times, `_` is one missing point and `_xN` N of them,
//! `stale` is the staleness marker. Native histograms (`{{...}}`, with the
//! same expanders) are recognised and skipped: they become
//! [`SeqValue::Histogram`] placeholders, because the engine only knows floats.

use pharos_model::{Label, Labels, STALE_NAN};

/// One position of an expanded value sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeqValue {
    /// `_`: no point at this position.
    Omitted,
    /// A float value (including NaN, ±Inf and the stale marker).
    Float(f64),
    /// A native histogram value (not modelled; only its position is kept).
    Histogram,
}

impl SeqValue {
    /// True for [`SeqValue::Histogram`].
    pub fn is_histogram(&self) -> bool {
        matches!(self, SeqValue::Histogram)
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

/// Skips one `{{...}}` literal at the start of `s`; returns the rest.
fn skip_histogram(s: &str) -> Result<&str, String> {
    match s.find("}}") {
        Some(i) if s.starts_with("{{") => Ok(&s[i + 2..]),
        _ => Err(format!("unterminated native histogram {s:?}")),
    }
}

/// `{{h}}`, `{{h}}xN`, `{{h}}+{{d}}xN`, `{{h}}-{{d}}xN`.
fn parse_histogram_item<'a>(s: &'a str, out: &mut Vec<SeqValue>) -> Result<&'a str, String> {
    let rest = skip_histogram(s)?;
    let (count, rest) = if let Some(r) = rest.strip_prefix(['+', '-']) {
        let r = skip_histogram(r)?;
        let Some(r) = r.strip_prefix('x') else {
            return Err("expected 'x<count>' after a histogram increment".into());
        };
        let (n, r) = take_uint(r)?;
        (n + 1, r)
    } else if let Some(r) = rest.strip_prefix('x') {
        let (n, r) = take_uint(r)?;
        (n + 1, r)
    } else {
        (1, rest)
    };
    if count > MAX_EXPANSION {
        return Err("expansion count too large".into());
    }
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return Err(format!(
            "unexpected {:?} after a histogram",
            first_word(rest)
        ));
    }
    out.extend(std::iter::repeat_n(SeqValue::Histogram, count as usize));
    Ok(rest)
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

    #[test]
    fn histograms_are_skipped_with_positions() {
        let v = parse_values(
            "{{schema:0 sum:5 count:4 buckets:[1 2 1]}} 1 {{}}x2 {{sum:1}}+{{sum:2}}x1 _",
        )
        .unwrap();
        assert_eq!(v.len(), 1 + 1 + 3 + 2 + 1);
        assert!(v[0].is_histogram());
        assert_eq!(v[1], SeqValue::Float(1.0));
        assert!(v[2..7].iter().all(SeqValue::is_histogram));
        assert_eq!(v[7], SeqValue::Omitted);
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
