//! One bulk document to one log entry: [`FieldMapping`], flattening, dates.

use std::borrow::Cow;

use serde_json::{Map, Value};

use pharos_model::LogEntry;

use super::json::Leaf;

/// Which document fields become the entry's time, line and stream labels.
///
/// Field names are dotted paths into the document: `kubernetes.namespace_name`
/// names both `{"kubernetes":{"namespace_name":"x"}}` and a top-level key
/// `"kubernetes.namespace_name"`, as Elasticsearch treats them alike.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FieldMapping {
    /// Candidate time fields, first present and parseable wins
    /// (default `["@timestamp"]`).
    pub time_fields: Vec<String>,
    /// Candidate line fields, first present wins (default `["message", "log"]`).
    pub line_fields: Vec<String>,
    /// Fields copied into stream labels (default none). The label name is the
    /// path with every character outside `[a-zA-Z0-9_]` replaced by `_`.
    pub label_fields: Vec<String>,
    /// Name of the label holding the index name (default `index`); empty for none.
    pub index_label: String,
}

impl Default for FieldMapping {
    fn default() -> Self {
        FieldMapping {
            time_fields: vec!["@timestamp".to_string()],
            line_fields: vec!["message".to_string(), "log".to_string()],
            label_fields: Vec::new(),
            index_label: "index".to_string(),
        }
    }
}

/// A field path as a label name: characters outside `[a-zA-Z0-9_]` become
/// `_`, and a leading digit gets a `_` in front. `None` for an empty path.
pub fn sanitize_label_name(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(path.len() + 1);
    if path.as_bytes()[0].is_ascii_digit() {
        out.push('_');
    }
    out.extend(path.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    Some(out)
}

/// A [`FieldMapping`] made ready for the documents of one request: the label
/// names sanitised once.
pub(crate) struct Prepared<'m> {
    pub(crate) mapping: &'m FieldMapping,
    /// Per [`FieldMapping::label_fields`] entry, its label name (`None` for an
    /// empty path, which never makes a label).
    pub(crate) label_names: Vec<Option<String>>,
}

impl<'m> Prepared<'m> {
    pub(crate) fn new(mapping: &'m FieldMapping) -> Prepared<'m> {
        Prepared {
            mapping,
            label_names: mapping
                .label_fields
                .iter()
                .map(|f| sanitize_label_name(f))
                .collect(),
        }
    }
}

/// What [`select`] picked from a document's leaves for its entry.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// Per leaf, whether it became the time, line or a label.
    used: Vec<bool>,
    ts: Option<i64>,
    /// The leaf that is the line.
    line: Option<usize>,
    /// `(label field, leaf)` per label found, in the order of the label fields.
    pub(crate) labels: Vec<(usize, usize)>,
}

/// The first leaf named `name` not used yet.
fn find_leaf(leaves: &[(Cow<'_, str>, Leaf<'_>)], used: &[bool], name: &str) -> Option<usize> {
    leaves
        .iter()
        .zip(used)
        .position(|((k, _), u)| !*u && k == name)
}

/// Picks the time, line and label leaves of a flattened document as
/// [`convert`] does (`leaves` in the order `convert` flattens in).
pub(crate) fn select(leaves: &[(Cow<'_, str>, Leaf<'_>)], p: &Prepared<'_>, sel: &mut Selection) {
    sel.used.clear();
    sel.used.resize(leaves.len(), false);
    sel.ts = None;
    sel.line = None;
    sel.labels.clear();
    for f in &p.mapping.time_fields {
        if let Some(i) = find_leaf(leaves, &sel.used, f) {
            if let Some(t) = leaf_time(&leaves[i].1) {
                sel.used[i] = true;
                sel.ts = Some(t);
                break;
            }
        }
    }
    for f in &p.mapping.line_fields {
        if let Some(i) = find_leaf(leaves, &sel.used, f) {
            sel.used[i] = true;
            sel.line = Some(i);
            break;
        }
    }
    for (j, f) in p.mapping.label_fields.iter().enumerate() {
        if p.label_names[j].is_none() {
            continue;
        }
        if let Some(i) = find_leaf(leaves, &sel.used, f) {
            sel.used[i] = true;
            sel.labels.push((j, i));
        }
    }
}

/// The entry of a document from its leaves and [`select`]ion, as [`convert`]
/// makes it: the line and metadata texts are taken out of `leaves` (the
/// label leaves stay). `raw` is the document line as received.
pub(crate) fn entry(
    leaves: &mut [(Cow<'_, str>, Leaf<'_>)],
    sel: &Selection,
    raw: &[u8],
    now_ns: i64,
) -> LogEntry {
    let ts = sel.ts.unwrap_or(now_ns);
    let Some(line) = sel.line else {
        // The whole document is the line; its fields are not repeated as
        // metadata. Valid JSON is valid UTF-8.
        let raw = std::str::from_utf8(raw).unwrap_or_default().trim();
        return LogEntry {
            ts,
            line: raw.into(),
            metadata: Vec::new(),
        };
    };
    let line = leaves[line].1.take_text();
    let unused = sel.used.iter().filter(|u| !**u).count();
    let mut metadata = Vec::with_capacity(unused);
    for ((k, v), used) in leaves.iter_mut().zip(&sel.used) {
        if !*used {
            metadata.push((std::mem::take(k).into_owned(), v.take_text()));
        }
    }
    LogEntry {
        ts,
        line: line.into(),
        metadata,
    }
}

/// A time leaf's value, as [`parse_time_value`] reads the `Value`.
fn leaf_time(v: &Leaf<'_>) -> Option<i64> {
    match v {
        Leaf::Str(s) => parse_time_str(s),
        Leaf::Other(v) => parse_time_value(v),
    }
}

/// A document converted: its label pairs (not yet including the index) and entry.
pub(crate) struct Converted {
    pub labels: Vec<(String, String)>,
    pub entry: LogEntry,
}

/// Converts one parsed document. `raw` is its line as received (the entry's
/// line when no line field is present).
pub(crate) fn convert(
    doc: &Map<String, Value>,
    raw: &str,
    mapping: &FieldMapping,
    now_ns: i64,
) -> Converted {
    let mut leaves: Vec<(String, &Value)> = Vec::new();
    let mut path = String::new();
    for (k, v) in doc {
        flatten(&mut path, k, v, &mut leaves);
    }
    let mut used = vec![false; leaves.len()];
    let find = |used: &[bool], name: &str| {
        leaves
            .iter()
            .enumerate()
            .position(|(i, (k, _))| !used[i] && k == name)
    };

    let mut ts = None;
    for f in &mapping.time_fields {
        if let Some(i) = find(&used, f) {
            if let Some(t) = parse_time_value(leaves[i].1) {
                used[i] = true;
                ts = Some(t);
                break;
            }
        }
    }

    let mut line = None;
    for f in &mapping.line_fields {
        if let Some(i) = find(&used, f) {
            used[i] = true;
            line = Some(text(leaves[i].1));
            break;
        }
    }

    let mut labels = Vec::new();
    for f in &mapping.label_fields {
        let (Some(i), Some(name)) = (find(&used, f), sanitize_label_name(f)) else {
            continue;
        };
        used[i] = true;
        labels.push((name, text(leaves[i].1)));
    }

    let (line, metadata) = match line {
        Some(line) => {
            let metadata = leaves
                .iter()
                .zip(&used)
                .filter(|(_, u)| !**u)
                .map(|((k, v), _)| (k.clone(), text(v)))
                .collect();
            (line, metadata)
        }
        // The whole document is the line; its fields are not repeated as metadata.
        None => (raw.to_string(), Vec::new()),
    };
    Converted {
        labels,
        entry: LogEntry {
            ts: ts.unwrap_or(now_ns),
            line: line.into(),
            metadata,
        },
    }
}

/// Appends the leaves under `key` (objects flattened with dots; arrays and
/// scalars are leaves; nulls and empty objects are dropped).
pub(super) fn flatten<'a>(
    path: &mut String,
    key: &str,
    v: &'a Value,
    out: &mut Vec<(String, &'a Value)>,
) {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    match v {
        Value::Null => {}
        Value::Object(m) => {
            for (k, v) in m {
                flatten(path, k, v, out);
            }
        }
        _ => out.push((path.clone(), v)),
    }
    path.truncate(len);
}

/// A leaf as text: strings as they are, anything else as compact JSON.
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// A time field's value in Unix nanoseconds, read as Elasticsearch's default
/// `date` format `strict_date_optional_time||epoch_millis` reads it: a JSON
/// number is epoch milliseconds; a string is an ISO 8601 date/time, else
/// epoch milliseconds (possibly fractional). `None` if it is neither or out
/// of the nanosecond range.
pub fn parse_time_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(ms) => ms.checked_mul(1_000_000),
            None => float_millis(n.as_f64()?),
        },
        Value::String(s) => parse_time_str(s),
        _ => None,
    }
}

/// A time string: ISO 8601, else epoch milliseconds.
fn parse_time_str(s: &str) -> Option<i64> {
    parse_date(s).or_else(|| parse_epoch_millis(s))
}

/// Fractional epoch milliseconds; whole milliseconds and the fraction apart,
/// so that no precision is lost to the product.
pub(super) fn float_millis(ms: f64) -> Option<i64> {
    if !ms.is_finite() || ms.abs() >= 9.2e12 {
        return None;
    }
    let whole = ms.trunc();
    let frac = ((ms - whole) * 1e6).round() as i64;
    (whole as i64).checked_mul(1_000_000)?.checked_add(frac)
}

/// `-?digits(.digits)?` as epoch milliseconds.
pub(super) fn parse_epoch_millis(s: &str) -> Option<i64> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, f),
        None => (rest, ""),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (rest.contains('.') && frac.is_empty())
    {
        return None;
    }
    let ms: i64 = int.parse().ok()?;
    // Up to six fractional digits of a millisecond are nanoseconds.
    let mut sub = 0i64;
    for (i, b) in frac.bytes().take(6).enumerate() {
        sub += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
    }
    let ns = ms.checked_mul(1_000_000)?.checked_add(sub)?;
    Some(if neg { -ns } else { ns })
}

/// A cursor over the bytes of a date string.
pub(super) struct Cur<'a> {
    pub(super) b: &'a [u8],
    pub(super) i: usize,
}

impl Cur<'_> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    pub(super) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Exactly `n` digits.
    pub(super) fn digits(&mut self, n: usize) -> Option<i64> {
        let s = self.b.get(self.i..self.i + n)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(s.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
    }
}

/// ISO 8601 as Elasticsearch's `strict_date_optional_time` reads it:
/// `yyyy[-MM[-dd]][THH[:mm[:ss[.fraction]]]][Z|±HH[[:]mm]]`, UTC when no zone
/// is given. A space is accepted for `T`, and up to nine fraction digits
/// count (more are ignored).
pub fn parse_date(s: &str) -> Option<i64> {
    match parse_rfc3339_utc(s.as_bytes()) {
        Some(t) => t,
        None => parse_date_general(s),
    }
}

/// The value of two ASCII digits, or `None`.
#[inline]
fn two_digits(b: &[u8], i: usize) -> Option<i64> {
    let (d1, d0) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
    (d1 < 10 && d0 < 10).then_some(i64::from(d1) * 10 + i64::from(d0))
}

/// The shape shippers send, `yyyy-MM-ddTHH:mm:ss[.f{1,9}]Z`, read directly:
/// `Some(parse_date(s))` for it, `None` for any other shape.
fn parse_rfc3339_utc(b: &[u8]) -> Option<Option<i64>> {
    let n = b.len();
    if !(n == 20 || (22..=30).contains(&n))
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[n - 1] != b'Z'
    {
        return None;
    }
    let year = two_digits(b, 0)? * 100 + two_digits(b, 2)?;
    let (month, day) = (two_digits(b, 5)?, two_digits(b, 8)?);
    let (h, m, sec) = (two_digits(b, 11)?, two_digits(b, 14)?, two_digits(b, 17)?);
    let mut nanos = 0i64;
    if n > 20 {
        if b[19] != b'.' && b[19] != b',' {
            return None;
        }
        let frac = &b[20..n - 1];
        for &d in frac {
            let d = d.wrapping_sub(b'0');
            if d >= 10 {
                return None;
            }
            nanos = nanos * 10 + i64::from(d);
        }
        nanos *= 10i64.pow(9 - frac.len() as u32);
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > i64::from(crate::civil::days_in_month(year, month as u32))
        || h > 23
        || m > 59
        || sec > 60
    {
        return Some(None);
    }
    let secs = crate::civil::days_from_civil(year, month as u32, day as u32) * 86_400
        + h * 3600
        + m * 60
        + sec;
    Some(
        secs.checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(nanos)),
    )
}

/// [`parse_date`] for any shape (also the reference the bulk parser's
/// oracle keeps using: the fast path is what changed).
pub(crate) fn parse_date_general(s: &str) -> Option<i64> {
    let mut c = Cur {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let year = c.digits(4)?;
    let (mut month, mut day) = (1, 1);
    if c.eat(b'-') {
        month = c.digits(2)?;
        if c.eat(b'-') {
            day = c.digits(2)?;
        }
    }
    let (mut h, mut m, mut sec, mut nanos) = (0, 0, 0, 0i64);
    if matches!(c.peek(), Some(b'T' | b't' | b' ')) {
        c.i += 1;
        h = c.digits(2)?;
        if c.eat(b':') {
            m = c.digits(2)?;
            if c.eat(b':') {
                sec = c.digits(2)?;
                if c.eat(b'.') || c.eat(b',') {
                    let start = c.i;
                    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                        if c.i - start < 9 {
                            nanos = nanos * 10 + i64::from(c.b[c.i] - b'0');
                        }
                        c.i += 1;
                    }
                    let n = c.i - start;
                    if n == 0 {
                        return None;
                    }
                    if n < 9 {
                        nanos *= 10i64.pow(9 - n as u32);
                    }
                }
            }
        }
    }
    let mut offset = 0i64;
    match c.peek() {
        Some(b'Z' | b'z') => c.i += 1,
        Some(sign @ (b'+' | b'-')) => {
            c.i += 1;
            let oh = c.digits(2)?;
            let mut om = 0;
            if c.peek().is_some() {
                c.eat(b':');
                om = c.digits(2)?;
            }
            if oh > 18 || om > 59 {
                return None;
            }
            offset = (oh * 3600 + om * 60) * if sign == b'-' { -1 } else { 1 };
        }
        _ => {}
    }
    if c.i != c.b.len()
        || !(1..=12).contains(&month)
        || day < 1
        || day > i64::from(crate::civil::days_in_month(year, month as u32))
        || h > 23
        || m > 59
        || sec > 60
    {
        return None;
    }
    let secs = crate::civil::days_from_civil(year, month as u32, day as u32) * 86_400
        + h * 3600
        + m * 60
        + sec
        - offset;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: i64 = 1_700_000_000_000_000_000; // 2023-11-14T22:13:20Z

    #[test]
    fn dates() {
        assert_eq!(parse_date("2023-11-14T22:13:20Z"), Some(T));
        assert_eq!(
            parse_date("2023-11-14T22:13:20.123Z"),
            Some(T + 123_000_000)
        );
        assert_eq!(
            parse_date("2023-11-14T22:13:20.123456789+00:00"),
            Some(T + 123_456_789)
        );
        assert_eq!(
            parse_date("2023-11-14T22:13:20.1234567891234Z"),
            Some(T + 123_456_789)
        );
        assert_eq!(parse_date("2023-11-14T23:13:20+01:00"), Some(T));
        assert_eq!(parse_date("2023-11-14T23:13:20+0100"), Some(T));
        assert_eq!(parse_date("2023-11-14T21:13:20-01"), Some(T));
        assert_eq!(parse_date("2023-11-14T22:13:20"), Some(T));
        assert_eq!(parse_date("2023-11-14 22:13:20"), Some(T));
        assert_eq!(parse_date("2023-11-14T22:13"), Some(T - 20_000_000_000));
        assert_eq!(parse_date("2023-11-14"), Some(T - 80_000 * 1_000_000_000));
        assert_eq!(parse_date("1970"), Some(0));
        assert_eq!(parse_date("1969-12-31T23:59:59Z"), Some(-1_000_000_000));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800_000_000_000));
        for bad in [
            "",
            "2023-13-01",
            "2023-02-29",
            "2023-11-14T25:00",
            "2023-11-14T22:13:20.",
            "2023-11-14T22:13:20Zjunk",
            "23-11-14",
            "1700000000000",
            "2023-11-14T22:13:20+",
            "3000-01-01", // beyond the nanosecond range
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    /// `yyyy-MM-ddTHH:mm:ss` text from numbers (in range and just out).
    fn date_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::strategy::Strategy;
        (
            (0i64..10_000, 0u32..14, 0u32..33),
            (0u32..25, 0u32..61, 0u32..62),
            proptest::sample::select(vec!["T", "t", " "]),
        )
            .prop_map(|((y, mo, d), (h, mi, s), t)| {
                format!("{y:04}-{mo:02}-{d:02}{t}{h:02}:{mi:02}:{s:02}")
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// The direct reading of `yyyy-MM-ddTHH:mm:ss[.f]Z` is the general one.
        #[test]
        fn the_common_date_shape_reads_as_any_other(
            date in date_text(),
            fraction in "[0-9]{0,12}",
            sep in proptest::sample::select(vec![".", ",", ""]),
            zone in proptest::sample::select(vec!["Z", "Z", "z", "", "+00:00"]),
            noise in proptest::option::of((
                0usize..40,
                proptest::sample::select(vec!['x', '-', ':', '9', ' ', '\u{e9}']),
            )),
        ) {
            let mut s = format!("{date}{sep}{fraction}{zone}");
            if let Some((at, c)) = noise {
                let at = (0..=at.min(s.len()))
                    .rev()
                    .find(|&i| s.is_char_boundary(i))
                    .unwrap_or(0);
                s.insert(at, c);
            }
            proptest::prop_assert_eq!(parse_date(&s), parse_date_general(&s), "{}", s);
        }
    }

    #[test]
    fn the_common_date_shape_reads_as_any_other_at_every_date() {
        let years = [
            0, 1677, 1678, 1969, 1970, 2000, 2023, 2024, 2100, 2262, 2263, 9999,
        ];
        let times = [
            (0, 0, 0),
            (23, 59, 59),
            (23, 59, 60),
            (24, 0, 0),
            (0, 60, 0),
            (0, 0, 61),
        ];
        for y in years {
            for mo in 0..14 {
                for d in 0..33 {
                    for (h, mi, sec) in times {
                        for f in ["", ".5", ",123456789", ".000000001", ".1234567890"] {
                            let s = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}{f}Z");
                            assert_eq!(parse_date(&s), parse_date_general(&s), "{s}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_common_date_shape_at_its_edges() {
        for s in [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999999Z",
            "2262-04-11T23:47:16.854775807Z",
            "2262-04-11T23:47:16.854775808Z",
            "1677-09-21T00:12:43.145224192Z",
            "1677-09-21T00:12:43.145224191Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:60.5Z",
            "2024-02-29T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-00-10T00:00:00Z",
            "2023-13-10T00:00:00Z",
            "2023-01-00T00:00:00Z",
            "2023-01-32T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "2023-01-01T00:60:00Z",
            "2023-01-01T00:00:61Z",
            "2023-01-01T00:00:00.Z",
            "2023-01-01T00:00:00.1234567890Z",
            "2023-01-01T00:00:00.123456789Z",
            "2023-01-01T00:00:00.1Z",
            "2023-01-01T00:00:00,1Z",
            "2023-01-01T00:00:00;1Z",
            "2023-01-01T00:00:0aZ",
            "2023-01-01T00:00:00ZZ",
            "+023-01-01T00:00:00Z",
            "2023-01-01X00:00:00Z",
        ] {
            assert_eq!(parse_date(s), parse_date_general(s), "{s}");
        }
        assert_eq!(parse_date("2023-11-14T22:13:20.5Z"), Some(T + 500_000_000));
    }

    #[test]
    fn epoch_millis() {
        assert_eq!(parse_time_value(&json!(1_700_000_000_000i64)), Some(T));
        assert_eq!(
            parse_time_value(&json!(1_700_000_000_000.5)),
            Some(T + 500_000)
        );
        assert_eq!(parse_time_value(&json!("1700000000000")), Some(T));
        assert_eq!(
            parse_time_value(&json!("1700000000000.25")),
            Some(T + 250_000)
        );
        assert_eq!(parse_time_value(&json!("-1")), Some(-1_000_000));
        assert_eq!(parse_time_value(&json!("2023")), parse_date("2023-01-01"));
        assert_eq!(parse_time_value(&json!("12.")), None);
        assert_eq!(parse_time_value(&json!("abc")), None);
        assert_eq!(parse_time_value(&json!(true)), None);
        assert_eq!(parse_time_value(&json!(1e300)), None);
        assert_eq!(parse_time_value(&json!(u64::MAX)), None);
        assert_eq!(parse_time_value(&json!("99999999999999999999")), None);
    }

    #[test]
    fn label_names() {
        assert_eq!(
            sanitize_label_name("kubernetes.namespace_name").as_deref(),
            Some("kubernetes_namespace_name")
        );
        assert_eq!(sanitize_label_name("1a-b").as_deref(), Some("_1a_b"));
        assert_eq!(sanitize_label_name("é").as_deref(), Some("_"));
        assert_eq!(sanitize_label_name(""), None);
    }

    #[test]
    fn conversion() {
        let doc = json!({
            "@timestamp": "2023-11-14T22:13:20Z",
            "message": "hello",
            "log": "not the line",
            "n": 1.5,
            "tags": ["a", 1],
            "nothing": null,
            "empty": {},
            "kubernetes": {"namespace_name": "prod", "labels": {"app": "api"}},
        });
        let Value::Object(m) = &doc else {
            unreachable!()
        };
        let mapping = FieldMapping {
            label_fields: vec!["kubernetes.namespace_name".into(), "absent".into()],
            ..FieldMapping::default()
        };
        let c = convert(m, "{}", &mapping, 7);
        assert_eq!(c.entry.ts, T);
        assert_eq!(c.entry.line, "hello");
        assert_eq!(
            c.labels,
            vec![("kubernetes_namespace_name".into(), "prod".into())]
        );
        let md: Vec<(&str, &str)> = c
            .entry
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            md,
            vec![
                ("kubernetes.labels.app", "api"),
                ("log", "not the line"),
                ("n", "1.5"),
                ("tags", r#"["a",1]"#),
            ]
        );
    }

    #[test]
    fn unparseable_time_stays_and_now_is_used() {
        let doc = json!({"@timestamp": "yesterday", "log": 42});
        let Value::Object(m) = &doc else {
            unreachable!()
        };
        let c = convert(m, "{}", &FieldMapping::default(), 7);
        assert_eq!(c.entry.ts, 7);
        assert_eq!(c.entry.line, "42");
        assert_eq!(
            c.entry.metadata,
            vec![("@timestamp".to_string(), "yesterday".to_string())]
        );
    }

    #[test]
    fn no_line_field_takes_the_document() {
        let raw = r#"{"a":{"b":"c"},"@timestamp":0}"#;
        let doc: Value = serde_json::from_str(raw).unwrap_or_default();
        let Value::Object(m) = &doc else {
            unreachable!()
        };
        let c = convert(m, raw, &FieldMapping::default(), 7);
        assert_eq!(c.entry.ts, 0);
        assert_eq!(c.entry.line, raw);
        assert!(c.entry.metadata.is_empty());
    }
}
