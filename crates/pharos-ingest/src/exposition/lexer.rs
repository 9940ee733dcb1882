//! Byte-level pieces both exposition parsers share: character classes, the
//! quoted-string scanner, escape handling, Go-compatible float parsing, the
//! assembly of one sample's label set, and metric-family bookkeeping.
//!
//! Nothing here knows the line grammar of either format; `text.rs` and
//! `openmetrics.rs` drive these helpers over the body in one pass.

use std::collections::HashMap;

use pharos_model::{Label, Labels, MetricMetadata, MetricType, METRIC_NAME};

use super::error::ParseErrorKind;
use super::{Scraped, ScrapedSample};

/// The NaN bit pattern Prometheus stores for a scraped `NaN` (`value.NormalNaN`);
/// distinct from the staleness marker, so no body can produce a stale sample.
pub(crate) const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// `[a-zA-Z_:]`: may start a metric name.
#[inline]
pub(crate) fn is_metric_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

/// `[a-zA-Z0-9_:]`: may continue a metric name.
#[inline]
pub(crate) fn is_metric_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// `[a-zA-Z_]`: may start a label name.
#[inline]
pub(crate) fn is_label_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// `[a-zA-Z0-9_]`: may continue a label name.
#[inline]
pub(crate) fn is_label_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The first index at or after `i` whose byte fails `f` (or `b.len()`).
#[inline]
pub(crate) fn scan_while(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

/// Scans the inside of a quoted label value, `i` being just after the opening
/// quote: `(\\.|[^\\"])*"` where `.` is any byte but a newline. A raw newline is
/// allowed only if `allow_newline` (the text format allows it, OpenMetrics does
/// not). Returns the index of the closing quote and whether a backslash occurs.
#[inline]
pub(crate) fn scan_quoted(b: &[u8], mut i: usize, allow_newline: bool) -> Option<(usize, bool)> {
    let mut escaped = false;
    while i < b.len() {
        match b[i] {
            b'"' => return Some((i, escaped)),
            b'\\' => {
                if i + 1 >= b.len() || b[i + 1] == b'\n' {
                    return None;
                }
                escaped = true;
                i += 2;
            }
            b'\n' if !allow_newline => return None,
            _ => i += 1,
        }
    }
    None
}

/// Replaces `\\` by `\`, `\n` by a newline and, if `quote`, `\"` by `"`, left to
/// right; any other backslash is kept as written (Prometheus's replacers).
pub(crate) fn unescape(s: &str, quote: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut last, mut i) = (0, 0);
    while i + 1 < b.len() {
        if b[i] == b'\\' {
            let rep = match b[i + 1] {
                b'\\' => Some('\\'),
                b'n' => Some('\n'),
                b'"' if quote => Some('"'),
                _ => None,
            };
            if let Some(r) = rep {
                // Backslashes are ASCII, so `i` and `i + 2` are char boundaries.
                out.push_str(&s[last..i]);
                out.push(r);
                i += 2;
                last = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[last..]);
    out
}

/// Bytes the lexers guarantee to be ASCII (names, keywords) as a `&str`.
#[inline]
pub(crate) fn ascii(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

/// The text of the token at `pos`, for "got ..." in error messages.
pub(crate) fn snippet(b: &[u8], pos: usize) -> String {
    const DELIMS: &[u8] = b"\n{}=,\"# \t";
    match b.get(pos) {
        None => "EOF".to_string(),
        Some(c) if DELIMS.contains(c) => (*c as char).to_string(),
        Some(_) => {
            let end = scan_while(b, pos, |c| !DELIMS.contains(&c)).min(pos + 40);
            String::from_utf8_lossy(&b[pos..end]).into_owned()
        }
    }
}

fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether `s` is a decimal float as Go's `strconv.ParseFloat` reads one, sign
/// already removed: `digits [. digits] [e [+-] digits]` with at least one
/// mantissa digit.
fn is_go_decimal(s: &[u8]) -> bool {
    let mut i = scan_while(s, 0, |c| c.is_ascii_digit());
    let mut digits = i;
    if i < s.len() && s[i] == b'.' {
        let j = scan_while(s, i + 1, |c| c.is_ascii_digit());
        digits += j - i - 1;
        i = j;
    }
    if digits == 0 {
        return false;
    }
    if i < s.len() && (s[i] | 0x20) == b'e' {
        i += 1;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let j = scan_while(s, i, |c| c.is_ascii_digit());
        if j == i {
            return false;
        }
        i = j;
    }
    i == s.len()
}

/// Parses a sample value or float timestamp as Prometheus does: Go's
/// `strconv.ParseFloat` minus the forms with `p`, `P` or `_` (so no hex floats).
/// `NaN`, `Inf`, `Infinity` in any case; signs on infinities only. A finite
/// literal beyond `f64` is an error; every NaN becomes Prometheus's normal NaN.
pub(crate) fn parse_float(s: &[u8]) -> Result<f64, ParseErrorKind> {
    if s.iter().any(|&c| matches!(c, b'p' | b'P' | b'_')) {
        return Err(ParseErrorKind::UnsupportedFloatChar);
    }
    let text = || String::from_utf8_lossy(s).into_owned();
    let (neg, rest) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if eq_ignore_case(rest, b"inf") || eq_ignore_case(rest, b"infinity") {
        return Ok(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if rest.len() == s.len() && eq_ignore_case(rest, b"nan") {
        return Ok(f64::from_bits(NORMAL_NAN_BITS));
    }
    if !is_go_decimal(rest) {
        return Err(ParseErrorKind::InvalidFloat(text()));
    }
    let v: f64 = ascii(s)
        .parse()
        .map_err(|_| ParseErrorKind::InvalidFloat(text()))?;
    if v.is_infinite() {
        return Err(ParseErrorKind::FloatOutOfRange(text()));
    }
    Ok(v)
}

/// Parses the text format's `[0-9]+` timestamp as an `i64`.
pub(crate) fn parse_int_timestamp(s: &[u8]) -> Result<i64, ParseErrorKind> {
    let mut v: i64 = 0;
    for &c in s {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or_else(|| ParseErrorKind::TimestampOutOfRange(ascii(s).to_string()))?;
    }
    Ok(v)
}

/// Formats a non-finite float as Go's `%f` does, for timestamp errors.
pub(crate) fn go_nonfinite(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v > 0.0 {
        "+Inf".to_string()
    } else {
        "-Inf".to_string()
    }
}

/// Up to this many labels, duplicates are found as each label is added (and
/// reported at its name); beyond, by sorting once the set is complete, so that
/// a hostile line with very many labels costs `n log n`, not `n²`.
const LINEAR_DUPLICATE_CHECK: usize = 16;

/// The label set of one sample (or exemplar) being assembled, in received order.
pub(crate) struct LabelSet {
    labels: Vec<Label>,
    has_empty: bool,
    /// More labels than [`LINEAR_DUPLICATE_CHECK`]: duplicates are checked in `finish`.
    deferred: bool,
}

impl LabelSet {
    /// A set holding only `__name__`.
    pub(crate) fn with_name(name: &str) -> LabelSet {
        let mut labels = Vec::with_capacity(8);
        labels.push(Label {
            name: METRIC_NAME.to_string(),
            value: name.to_string(),
        });
        LabelSet {
            labels,
            has_empty: false,
            deferred: false,
        }
    }

    /// An empty set (exemplars).
    pub(crate) fn empty() -> LabelSet {
        LabelSet {
            labels: Vec::new(),
            has_empty: false,
            deferred: false,
        }
    }

    /// Adds a pair from the body: `raw` is the value between the quotes,
    /// `escaped` whether it holds a backslash. Checks UTF-8 and uniqueness.
    pub(crate) fn add(
        &mut self,
        name: &[u8],
        raw: &[u8],
        escaped: bool,
    ) -> Result<(), ParseErrorKind> {
        let value = std::str::from_utf8(raw).map_err(|_| ParseErrorKind::InvalidLabelValueUtf8)?;
        let name = ascii(name);
        if self.labels.len() < LINEAR_DUPLICATE_CHECK {
            if self.labels.iter().any(|l| l.name == name) {
                return Err(ParseErrorKind::DuplicateLabelName(name.to_string()));
            }
        } else {
            self.deferred = true;
        }
        let value = if escaped {
            unescape(value, true)
        } else {
            value.to_string()
        };
        self.has_empty |= value.is_empty();
        self.labels.push(Label {
            name: name.to_string(),
            value,
        });
        Ok(())
    }

    /// The sorted [`Labels`]; labels with empty values are dropped, since
    /// Prometheus treats an empty value as the label being absent. Fails only on
    /// a duplicate name in a set too large to have been checked by `add`.
    pub(crate) fn finish(mut self) -> Result<Labels, ParseErrorKind> {
        if !self.labels.is_sorted_by(|a, b| a.name <= b.name) {
            self.labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        }
        if self.deferred {
            if let Some(w) = self.labels.windows(2).find(|w| w[0].name == w[1].name) {
                return Err(ParseErrorKind::DuplicateLabelName(w[0].name.clone()));
            }
        }
        if self.has_empty {
            self.labels.retain(|l| !l.value.is_empty());
        }
        Ok(Labels::from_sorted_unchecked(self.labels))
    }
}

/// Samples and metadata gathered so far, plus the metric family the last
/// `# TYPE` line opened (to tell which samples belong to it).
pub(crate) struct Output<'a> {
    samples: Vec<ScrapedSample>,
    metadata: Vec<(String, MetricMetadata)>,
    index: HashMap<&'a [u8], usize>,
    family: &'a [u8],
    family_type: MetricType,
}

/// Sample-name suffixes that still belong to the family named without them.
const FAMILY_SUFFIXES: [&[u8]; 8] = [
    b"",
    b"_total",
    b"_bucket",
    b"_count",
    b"_sum",
    b"_created",
    b"_gcount",
    b"_gsum",
];

impl<'a> Output<'a> {
    /// An empty output sized for a body of `len` bytes.
    pub(crate) fn new(len: usize) -> Output<'a> {
        Output {
            // Exposition lines average well over 32 bytes.
            samples: Vec::with_capacity(len / 48 + 1),
            metadata: Vec::new(),
            index: HashMap::new(),
            family: b"",
            family_type: MetricType::Unknown,
        }
    }

    fn entry(&mut self, name: &'a [u8]) -> &mut MetricMetadata {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.metadata
                    .push((ascii(name).to_string(), MetricMetadata::default()));
                self.index.insert(name, self.metadata.len() - 1);
                self.metadata.len() - 1
            }
        };
        &mut self.metadata[i].1
    }

    pub(crate) fn set_help(&mut self, name: &'a [u8], help: String) {
        self.entry(name).help = help;
    }

    pub(crate) fn set_unit(&mut self, name: &'a [u8], unit: String) {
        self.entry(name).unit = unit;
    }

    pub(crate) fn set_type(&mut self, name: &'a [u8], t: MetricType) {
        self.entry(name).metric_type = t;
        self.family = name;
        self.family_type = t;
    }

    /// The type of the family `name` belongs to, if it is the one the last
    /// `# TYPE` opened, and the suffix after the family name.
    pub(crate) fn family_of<'n>(&self, name: &'n [u8]) -> (MetricType, &'n [u8]) {
        if let Some(rest) = name.strip_prefix(self.family) {
            if !self.family.is_empty() && FAMILY_SUFFIXES.contains(&rest) {
                return (self.family_type, rest);
            }
        }
        (MetricType::Unknown, b"")
    }

    pub(crate) fn push(&mut self, s: ScrapedSample) {
        self.samples.push(s);
    }

    pub(crate) fn finish(self) -> Scraped {
        Scraped {
            samples: self.samples,
            metadata: self.metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_like_prometheus_replacers() {
        assert_eq!(unescape(r#"a\"b\\c\nd\te\"#, true), "a\"b\\c\nd\\te\\");
        assert_eq!(unescape(r#"\\n"#, true), "\\n");
        assert_eq!(unescape(r#"say \"hi\""#, false), r#"say \"hi\""#);
        assert_eq!(unescape("é\\né", true), "é\né");
    }

    #[test]
    fn floats_as_go_parsefloat() {
        let ok = |s: &str| parse_float(s.as_bytes()).unwrap();
        assert_eq!(ok("1"), 1.0);
        assert_eq!(ok("-1.5e3"), -1500.0);
        assert_eq!(ok("1."), 1.0);
        assert_eq!(ok(".5"), 0.5);
        assert_eq!(ok("+.5E-1"), 0.05);
        assert_eq!(ok("1e-400"), 0.0);
        assert_eq!(ok("+Inf"), f64::INFINITY);
        assert_eq!(ok("-inf"), f64::NEG_INFINITY);
        assert_eq!(ok("Infinity"), f64::INFINITY);
        assert_eq!(ok("NaN").to_bits(), NORMAL_NAN_BITS);
        assert_eq!(ok("nan").to_bits(), NORMAL_NAN_BITS);
        for bad in [
            "", ".", "e5", "1e", "1e+", "+nan", "-NaN", "0x1", "infx", "1.2.3", "1 ", "--1",
        ] {
            assert!(
                matches!(
                    parse_float(bad.as_bytes()),
                    Err(ParseErrorKind::InvalidFloat(_))
                ),
                "{bad:?}"
            );
        }
        for bad in ["0x1p3", "1_000", "1P"] {
            assert_eq!(
                parse_float(bad.as_bytes()),
                Err(ParseErrorKind::UnsupportedFloatChar)
            );
        }
        assert_eq!(
            parse_float(b"1e309"),
            Err(ParseErrorKind::FloatOutOfRange("1e309".into()))
        );
    }

    #[test]
    fn int_timestamps() {
        assert_eq!(parse_int_timestamp(b"1520879607789"), Ok(1520879607789));
        assert_eq!(parse_int_timestamp(b"9223372036854775807"), Ok(i64::MAX));
        assert!(parse_int_timestamp(b"9223372036854775808").is_err());
    }
}
