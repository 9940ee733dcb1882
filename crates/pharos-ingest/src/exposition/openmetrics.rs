//! OpenMetrics 1.0 text, accepted as Prometheus 2.42's `OpenMetricsParser`
//! accepts it, plus the two stricter rules of [`ParseOptions`].
//!
//! Strict where the text format is lenient: exactly one space between tokens,
//! none at the start of a line or inside braces, no blank lines, no trailing
//! comma, no raw newline in a label value, and no comment but `# HELP`,
//! `# TYPE`, `# UNIT` and the final `# EOF`, after which nothing may follow.
//! Types are `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`,
//! `info`, `stateset` and `unknown`; a non-empty unit must be a `_`-separated
//! suffix of the family name. Timestamps are float seconds, truncated to
//! milliseconds as Prometheus does (`int64(ts * 1000)`). A sample may end with
//! an exemplar: ` # {labels} value [timestamp]`.

use pharos_model::{Exemplar, MetricType};

use super::error::{ParseError, ParseErrorKind};
use super::lexer::{
    ascii, go_nonfinite, is_label_name_char, is_label_name_start, is_metric_name_char,
    is_metric_name_start, parse_float, scan_quoted, scan_while, snippet, unescape, LabelSet,
    Output,
};
use super::{ParseOptions, Scraped, ScrapedSample};

/// What introduces an exemplar after a sample's value or timestamp.
const EXEMPLAR_START: &[u8] = b" # {";

/// Parses an OpenMetrics body.
pub(super) fn parse(b: &[u8], opts: &ParseOptions) -> Result<Scraped, ParseError> {
    let mut p = Parser {
        b,
        out: Output::new(b.len()),
        opts,
    };
    let mut pos = 0;
    loop {
        pos = match b.get(pos) {
            None | Some(0) => return Err(p.err(pos, ParseErrorKind::MissingEof)),
            Some(b'#') => match p.hash_line(pos)? {
                Some(next) => next,
                None => break,
            },
            Some(&c) if is_metric_name_start(c) => p.sample(pos)?,
            Some(_) => return Err(p.unexpected(pos, "expected a valid start token")),
        };
    }
    Ok(p.out.finish())
}

struct Parser<'a, 'o> {
    b: &'a [u8],
    out: Output<'a>,
    opts: &'o ParseOptions,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Meta {
    Help,
    Type,
    Unit,
}

impl<'a> Parser<'a, '_> {
    fn err(&self, at: usize, kind: ParseErrorKind) -> ParseError {
        ParseError::at(self.b, at, kind)
    }

    fn unexpected(&self, at: usize, expected: &'static str) -> ParseError {
        self.err(
            at,
            ParseErrorKind::Unexpected {
                expected,
                got: snippet(self.b, at),
            },
        )
    }

    /// A line starting with `#` at `i`: metadata or `# EOF`. Returns where the
    /// next line starts, or `None` after `# EOF`.
    fn hash_line(&mut self, i: usize) -> Result<Option<usize>, ParseError> {
        let b = self.b;
        if b.get(i + 1) != Some(&b' ') {
            return Err(self.unexpected(i, "expected a valid start token"));
        }
        let kw = i + 2;
        let meta = match b.get(kw..kw + 5) {
            Some(b"HELP ") => Meta::Help,
            Some(b"TYPE ") => Meta::Type,
            Some(b"UNIT ") => Meta::Unit,
            _ if b[kw..].starts_with(b"EOF") => {
                let mut end = kw + 3;
                if b.get(end) == Some(&b'\n') {
                    end += 1;
                }
                // The lexer reads a NUL as the end of input.
                return match b.get(end) {
                    None | Some(0) => Ok(None),
                    Some(_) => Err(self.err(end, ParseErrorKind::DataAfterEof)),
                };
            }
            _ => return Err(self.unexpected(kw, "expected a valid start token")),
        };
        let ns = kw + 5;
        if !b.get(ns).is_some_and(|&c| is_metric_name_start(c)) {
            let what = match meta {
                Meta::Help => "expected metric name after HELP",
                Meta::Type => "expected metric name after TYPE",
                Meta::Unit => "expected metric name after UNIT",
            };
            return Err(self.unexpected(ns, what));
        }
        let ne = scan_while(b, ns, is_metric_name_char);
        let end = scan_while(b, ne, |c| c != b'\n');
        if b.get(ne) != Some(&b' ') || end == b.len() {
            let what = match meta {
                Meta::Help => "expected text in HELP",
                Meta::Type => "expected text in TYPE",
                Meta::Unit => "expected text in UNIT",
            };
            return Err(self.unexpected(ne, what));
        }
        let name = &b[ns..ne];
        let text = &b[ne + 1..end];
        match meta {
            Meta::Type => {
                let t = match text {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::Stateset,
                    b"unknown" => MetricType::Unknown,
                    _ => {
                        let got = String::from_utf8_lossy(text).into_owned();
                        return Err(self.err(ne + 1, ParseErrorKind::InvalidMetricType(got)));
                    }
                };
                self.out.set_type(name, t);
            }
            Meta::Help => {
                let s = std::str::from_utf8(text)
                    .map_err(|_| self.err(ne + 1, ParseErrorKind::InvalidHelpUtf8))?;
                // OpenMetrics escapes help text like label values.
                let help = if s.contains('\\') {
                    unescape(s, true)
                } else {
                    s.to_string()
                };
                self.out.set_help(name, help);
            }
            Meta::Unit => {
                let suffix_ok = text.is_empty()
                    || (name.len() > text.len()
                        && name.ends_with(text)
                        && name[name.len() - text.len() - 1] == b'_');
                if !suffix_ok {
                    let unit = String::from_utf8_lossy(text).into_owned();
                    let metric = ascii(name).to_string();
                    return Err(self.err(ne + 1, ParseErrorKind::UnitNotSuffix { unit, metric }));
                }
                self.out.set_unit(name, ascii(text).to_string());
            }
        }
        Ok(Some(end + 1))
    }

    /// ` value` at `i`: one space, then anything but spaces and newlines.
    /// Returns the value and the index after it.
    fn space_value(&self, i: usize, expected: &'static str) -> Result<(f64, usize), ParseError> {
        let b = self.b;
        if b.get(i) != Some(&b' ') {
            return Err(self.unexpected(i, expected));
        }
        let (vs, ve) = (i + 1, scan_while(b, i + 1, |c| c != b' ' && c != b'\n'));
        if ve == vs {
            return Err(self.unexpected(vs, expected));
        }
        let v = parse_float(&b[vs..ve]).map_err(|k| self.err(vs, k))?;
        Ok((v, ve))
    }

    /// A float-seconds timestamp at `i` (after its space) up to `end`, in milliseconds.
    fn timestamp(&self, i: usize, end: usize, exemplar: bool) -> Result<i64, ParseError> {
        let ts = parse_float(&self.b[i..end]).map_err(|k| self.err(i, k))?;
        if !ts.is_finite() {
            let kind = if exemplar {
                ParseErrorKind::InvalidExemplarTimestamp(go_nonfinite(ts))
            } else {
                ParseErrorKind::InvalidTimestamp(go_nonfinite(ts))
            };
            return Err(self.err(i, kind));
        }
        // Truncation toward zero, as Go's int64(ts * 1000).
        Ok((ts * 1000.0) as i64)
    }

    /// A sample line whose metric name starts at `i`; returns where the next line starts.
    fn sample(&mut self, i: usize) -> Result<usize, ParseError> {
        let b = self.b;
        let ne = scan_while(b, i, is_metric_name_char);
        let name = &b[i..ne];
        let mut labels = LabelSet::with_name(ascii(name));
        let mut j = ne;
        if b.get(j) == Some(&b'{') {
            j = self.labels(j + 1, &mut labels)?;
        }
        let (value, ve) = self.space_value(j, "expected value after metric")?;
        let mut timestamp_ms = None;
        let mut exemplar = None;
        let mut j = ve;
        match b.get(j) {
            None => return Err(self.err(j, ParseErrorKind::MissingEof)),
            Some(b'\n') => {}
            Some(b' ') if b[j..].starts_with(EXEMPLAR_START) => {
                let (e, end) = self.exemplar(j)?;
                exemplar = Some((j, e));
                j = end;
            }
            Some(b' ') => {
                let te = scan_while(b, j + 1, |c| c != b' ' && c != b'\n');
                if te == j + 1 {
                    return Err(self.unexpected(j + 1, "expected timestamp or # symbol"));
                }
                timestamp_ms = Some(self.timestamp(j + 1, te, false)?);
                j = te;
                match b.get(j) {
                    Some(b'\n') => {}
                    Some(b' ') if b[j..].starts_with(EXEMPLAR_START) => {
                        let (e, end) = self.exemplar(j)?;
                        exemplar = Some((j, e));
                        j = end;
                    }
                    _ => return Err(self.unexpected(j, "expected next entry after timestamp")),
                }
            }
            Some(_) => return Err(self.unexpected(j, "expected timestamp or # symbol")),
        }
        // `j` is at the newline ending the line.
        let (family_type, suffix) = self.out.family_of(name);
        if let Some((at, _)) = &exemplar {
            let allowed = (name.ends_with(b"_total") && family_type == MetricType::Counter)
                || (name.ends_with(b"_bucket")
                    && matches!(
                        family_type,
                        MetricType::Histogram | MetricType::GaugeHistogram
                    ));
            if self.opts.strict_exemplars && !allowed {
                let kind = ParseErrorKind::ExemplarNotAllowed(ascii(name).to_string());
                return Err(self.err(*at + 1, kind));
            }
        }
        let created = suffix == b"_created"
            && matches!(
                family_type,
                MetricType::Counter | MetricType::Histogram | MetricType::Summary
            );
        let labels = labels.finish().map_err(|k| self.err(i, k))?;
        if !(created && self.opts.skip_created_series) {
            self.out.push(ScrapedSample {
                labels,
                value,
                timestamp_ms,
                exemplar: exemplar.map(|(_, e)| e),
            });
        }
        Ok(j + 1)
    }

    /// An exemplar starting with ` # {` at `i`; returns it and the index of the
    /// newline ending the line.
    fn exemplar(&self, i: usize) -> Result<(Exemplar, usize), ParseError> {
        let b = self.b;
        let mut set = LabelSet::empty();
        let j = self.labels(i + EXEMPLAR_START.len(), &mut set)?;
        let (value, ve) = self.space_value(j, "expected value after exemplar labels")?;
        let mut t = None;
        let end = match b.get(ve) {
            None => return Err(self.err(ve, ParseErrorKind::MissingEof)),
            Some(b'\n') => ve,
            Some(b' ') => {
                let te = scan_while(b, ve + 1, |c| c != b' ' && c != b'\n');
                if te == ve + 1 {
                    return Err(self.unexpected(ve + 1, "expected timestamp or comment"));
                }
                t = Some(self.timestamp(ve + 1, te, true)?);
                if b.get(te) != Some(&b'\n') {
                    return Err(self.unexpected(te, "expected next entry after exemplar timestamp"));
                }
                te
            }
            Some(_) => return Err(self.unexpected(ve, "expected timestamp or comment")),
        };
        let labels = set.finish().map_err(|k| self.err(i + 1, k))?;
        Ok((Exemplar { labels, value, t }, end))
    }

    /// The labels after `{` (`i` just past it); returns the index after `}`.
    fn labels(&self, mut i: usize, set: &mut LabelSet) -> Result<usize, ParseError> {
        let b = self.b;
        let mut first = true;
        loop {
            match b.get(i) {
                Some(b'}') => return Ok(i + 1),
                Some(b',') if !first => {
                    i += 1;
                    if !b.get(i).is_some_and(|&c| is_label_name_start(c)) {
                        return Err(self.unexpected(i, "expected label name"));
                    }
                }
                Some(&c) if first && is_label_name_start(c) => {}
                Some(&c) if is_label_name_start(c) => {
                    return Err(self.unexpected(i, "expected comma"));
                }
                // Prometheus's wording, though it means the right brace.
                _ if first => return Err(self.unexpected(i, "expected label name or left brace")),
                _ => return Err(self.unexpected(i, "expected comma or left brace")),
            }
            first = false;
            let ns = i;
            let ne = scan_while(b, ns, is_label_name_char);
            if b.get(ne) != Some(&b'=') {
                return Err(self.unexpected(ne, "expected equal"));
            }
            let vs = ne + 1;
            if b.get(vs) != Some(&b'"') {
                return Err(self.unexpected(vs, "expected label value"));
            }
            let Some((close, escaped)) = scan_quoted(b, vs + 1, false) else {
                return Err(self.unexpected(vs, "expected label value"));
            };
            set.add(&b[ns..ne], &b[vs + 1..close], escaped)
                .map_err(|k| {
                    let at = if k == ParseErrorKind::InvalidLabelValueUtf8 {
                        vs
                    } else {
                        ns
                    };
                    self.err(at, k)
                })?;
            i = close + 1;
        }
    }
}
