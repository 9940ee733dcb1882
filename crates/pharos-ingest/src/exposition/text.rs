//! The Prometheus text format 0.0.4, accepted exactly as Prometheus 2.42's
//! `PromParser` accepts it.
//!
//! The body is read as if it ended with a newline. Spaces and tabs may separate
//! any two tokens and start a line; blank lines are skipped. `#` lines are
//! comments unless they read `# HELP name text` or `# TYPE name type` (types
//! `counter`, `gauge`, `histogram`, `summary`, `untyped`). A sample is
//! `name [{labels}] value [timestamp]`: labels may end in a comma or go without
//! commas between them, label values may hold raw newlines, the value is a token
//! of anything but blanks, newline and `{`, the timestamp integer milliseconds.
//! A NUL byte at the start of a line ends the body (the Prometheus lexer's
//! end-of-input marker).

use pharos_model::MetricType;

use super::error::{ParseError, ParseErrorKind};
use super::lexer::{
    ascii, is_label_name_char, is_label_name_start, is_metric_name_char, is_metric_name_start,
    parse_float, parse_int_timestamp, scan_quoted, scan_while, snippet, unescape, LabelSet, Output,
};
use super::{Scraped, ScrapedSample};

#[inline]
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Parses a text-format body.
pub(super) fn parse(b: &[u8]) -> Result<Scraped, ParseError> {
    let mut p = Parser {
        b,
        out: Output::new(b.len()),
    };
    let mut pos = 0;
    loop {
        let i = scan_while(b, pos, is_blank);
        pos = match p.at(i) {
            None | Some(0) => break,
            Some(b'\n') => i + 1,
            Some(b'#') => match p.comment(i)? {
                Some(next) => next,
                None => break,
            },
            Some(c) if is_metric_name_start(c) => p.sample(i)?,
            Some(_) => return Err(p.unexpected(i, "expected a valid start token")),
        };
    }
    Ok(p.out.finish())
}

struct Parser<'a> {
    b: &'a [u8],
    out: Output<'a>,
}

impl<'a> Parser<'a> {
    /// The byte at `i`, the body being followed by one virtual newline.
    #[inline]
    fn at(&self, i: usize) -> Option<u8> {
        match self.b.get(i) {
            Some(&c) => Some(c),
            None if i == self.b.len() => Some(b'\n'),
            None => None,
        }
    }

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

    /// The index just after the newline ending the line that holds `i`.
    fn next_line(&self, i: usize) -> usize {
        scan_while(self.b, i, |c| c != b'\n') + 1
    }

    /// A line starting with `#` at `i`: a comment, `# HELP` or `# TYPE`. Returns
    /// where the next line starts, or `None` if a NUL ended the body.
    fn comment(&mut self, i: usize) -> Result<Option<usize>, ParseError> {
        let b = self.b;
        let kw = scan_while(b, i + 1, is_blank);
        if kw == i + 1 {
            // `#` glued to its text: a comment, in which the lexer takes a NUL for the end.
            let end = scan_while(b, kw, |c| c != b'\n' && c != 0);
            return Ok(if b.get(end) == Some(&0) {
                None
            } else {
                Some(end + 1)
            });
        }
        let is_type = match b.get(kw..kw + 4) {
            Some(b"HELP") => false,
            Some(b"TYPE") => true,
            _ => return Ok(Some(self.next_line(kw))),
        };
        let ns = scan_while(b, kw + 4, is_blank);
        if ns == kw + 4 {
            return Ok(Some(self.next_line(kw)));
        }
        if !b.get(ns).is_some_and(|&c| is_metric_name_start(c)) {
            let what = if is_type {
                "expected metric name after TYPE"
            } else {
                "expected metric name after HELP"
            };
            return Err(self.unexpected(ns, what));
        }
        let ne = scan_while(b, ns, is_metric_name_char);
        let end = scan_while(b, ne, |c| c != b'\n');
        let rest = &b[ne..end];
        // The lexer keeps all of the rest but its first byte, unless it is all blank.
        let (ts, text) = if rest.iter().all(|&c| is_blank(c)) {
            (end, &rest[..0])
        } else {
            (ne + 1, &rest[1..])
        };
        let name = &b[ns..ne];
        if is_type {
            let t = match text {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"summary" => MetricType::Summary,
                b"untyped" => MetricType::Unknown,
                _ => {
                    let got = String::from_utf8_lossy(text).into_owned();
                    return Err(self.err(ts, ParseErrorKind::InvalidMetricType(got)));
                }
            };
            self.out.set_type(name, t);
        } else {
            let s = std::str::from_utf8(text)
                .map_err(|_| self.err(ts, ParseErrorKind::InvalidHelpUtf8))?;
            let help = if s.contains('\\') {
                unescape(s, false)
            } else {
                s.to_string()
            };
            self.out.set_help(name, help);
        }
        Ok(Some(end + 1))
    }

    /// A sample line whose metric name starts at `i`; returns where the next line starts.
    fn sample(&mut self, i: usize) -> Result<usize, ParseError> {
        let b = self.b;
        let line_start = i;
        let ne = scan_while(b, i, is_metric_name_char);
        let mut labels = LabelSet::with_name(ascii(&b[i..ne]));
        let mut i = scan_while(b, ne, is_blank);
        if b.get(i) == Some(&b'{') {
            i = self.labels(i + 1, &mut labels)?;
            i = scan_while(b, i, is_blank);
        }
        let vs = i;
        let ve = scan_while(b, vs, |c| !matches!(c, b' ' | b'\t' | b'\n' | b'{'));
        if ve == vs {
            return Err(self.unexpected(vs, "expected value after metric"));
        }
        let value = parse_float(&b[vs..ve]).map_err(|k| self.err(vs, k))?;
        let mut i = scan_while(b, ve, is_blank);
        let mut timestamp_ms = None;
        match self.at(i) {
            Some(b'\n') => {}
            Some(c) if c.is_ascii_digit() => {
                let te = scan_while(b, i, |c| c.is_ascii_digit());
                timestamp_ms = Some(parse_int_timestamp(&b[i..te]).map_err(|k| self.err(i, k))?);
                i = scan_while(b, te, is_blank);
                if self.at(i) != Some(b'\n') {
                    return Err(self.unexpected(i, "expected next entry after timestamp"));
                }
            }
            _ => return Err(self.unexpected(i, "expected timestamp or new record")),
        }
        let labels = labels.finish().map_err(|k| self.err(line_start, k))?;
        self.out.push(ScrapedSample {
            labels,
            value,
            timestamp_ms,
            exemplar: None,
        });
        Ok(i + 1)
    }

    /// The labels after `{` (`i` just past it); returns the index after `}`.
    fn labels(&self, mut i: usize, set: &mut LabelSet) -> Result<usize, ParseError> {
        let b = self.b;
        loop {
            i = scan_while(b, i, is_blank);
            match b.get(i) {
                Some(b'}') => return Ok(i + 1),
                Some(&c) if is_label_name_start(c) => {}
                _ => return Err(self.unexpected(i, "expected label name")),
            }
            let ns = i;
            let ne = scan_while(b, ns, is_label_name_char);
            i = scan_while(b, ne, is_blank);
            if b.get(i) != Some(&b'=') {
                return Err(self.unexpected(i, "expected equal"));
            }
            i = scan_while(b, i + 1, is_blank);
            if b.get(i) != Some(&b'"') {
                return Err(self.unexpected(i, "expected label value"));
            }
            let Some((close, escaped)) = scan_quoted(b, i + 1, true) else {
                return Err(self.unexpected(i, "expected label value"));
            };
            set.add(&b[ns..ne], &b[i + 1..close], escaped)
                .map_err(|k| {
                    let at = if k == ParseErrorKind::InvalidLabelValueUtf8 {
                        i
                    } else {
                        ns
                    };
                    self.err(at, k)
                })?;
            // Commas are optional between labels and allowed after the last one.
            i = scan_while(b, close + 1, is_blank);
            if b.get(i) == Some(&b',') {
                i += 1;
            }
        }
    }
}
