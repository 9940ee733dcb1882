//! Stream labels as Loki push requests carry them: a selector of `=` matchers,
//! `{app="api", env="prod"}`.
//!
//! Loki reads the protobuf `StreamAdapter.labels` string with the PromQL
//! metric parser (`syntax.ParseLabels`), so the grammar here is that one,
//! restricted to what a stream identity can be:
//!
//! - `{`, then `name = "value"` items separated by commas (a trailing comma is
//!   allowed), then `}`; spaces, tabs, carriage returns and newlines may
//!   surround every token;
//! - a name is `[a-zA-Z_][a-zA-Z0-9_]*`, or a quoted string holding such a name;
//! - a value is quoted with `"`, `'` or `` ` ``; the first two take Go's
//!   escapes (`\a \b \f \n \r \t \v \\`, the quote itself, `\NNN` octal,
//!   `\xNN`, `\uNNNN`, `\UNNNNNNNN`), a raw newline ends them with an error;
//!   backquoted strings are raw;
//! - only `=`: `!=`, `=~` and `!~` are refused, as is a metric name before `{`.
//!
//! Then the checks of Loki's write path: labels with an empty value are
//! dropped (Loki normalises them away, they are equivalent to absent labels),
//! names must be valid, duplicates are refused, at least one label must
//! remain, and `__name__`, if present, must hold a valid metric name (so that
//! the result passes [`Labels::validate`]).

use pharos_model::{is_valid_label_name, is_valid_metric_name, Label, Labels, METRIC_NAME};

/// Why a stream's labels are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelsError {
    /// The selector does not parse; `offset` is a byte offset into it.
    #[error("{message} at offset {offset}")]
    Syntax { offset: usize, message: String },
    /// A name that is not `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {name:?}")]
    InvalidName { name: String },
    /// The same name twice (with non-empty values).
    #[error("duplicate label name {name:?}")]
    Duplicate { name: String },
    /// No label with a non-empty value.
    #[error("at least one label pair is required per stream")]
    Empty,
    /// `__name__` holding something that is not a metric name.
    #[error("invalid metric name {value:?} in label __name__")]
    InvalidMetricName { value: String },
    /// The labels string (or an escape in it) is not valid UTF-8.
    #[error("labels are not valid UTF-8")]
    InvalidUtf8,
}

/// Parses a stream selector such as `{app="api", env="prod"}` into sorted,
/// validated labels (see the module docs for the grammar and the checks).
///
/// ```
/// use pharos_ingest::loki::parse_labels;
/// let ls = parse_labels(r#"{env="prod", app="api\n"}"#).unwrap();
/// assert_eq!(ls.get("app"), Some("api\n"));
/// assert!(parse_labels(r#"{app=~"a.*"}"#).is_err());
/// ```
pub fn parse_labels(s: &str) -> Result<Labels, LabelsError> {
    let pairs = Parser { s, pos: 0 }.selector()?;
    build_labels(pairs, Duplicates::Refuse)
}

/// What [`build_labels`] does with a name given twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Duplicates {
    /// An error (label strings: Loki's validator refuses them).
    Refuse,
    /// The last one wins (JSON objects: Loki reads them into a Go map).
    LastWins,
}

/// The checks shared by the protobuf and JSON forms: drops empty values,
/// validates names, sorts, handles duplicates, refuses an empty set and an
/// invalid `__name__`.
pub(super) fn build_labels(
    mut pairs: Vec<(String, String)>,
    dups: Duplicates,
) -> Result<Labels, LabelsError> {
    if dups == Duplicates::LastWins {
        // Keep the last occurrence of every name, as a Go map does.
        pairs.reverse();
        let mut seen = std::collections::HashSet::with_capacity(pairs.len());
        pairs.retain(|(n, _)| seen.insert(n.clone()));
    }
    pairs.retain(|(_, v)| !v.is_empty());
    if let Some((n, _)) = pairs.iter().find(|(n, _)| !is_valid_label_name(n)) {
        return Err(LabelsError::InvalidName { name: n.clone() });
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(LabelsError::Duplicate {
            name: w[0].0.clone(),
        });
    }
    if pairs.is_empty() {
        return Err(LabelsError::Empty);
    }
    if let Some((_, v)) = pairs.iter().find(|(n, _)| n == METRIC_NAME) {
        if !is_valid_metric_name(v) {
            return Err(LabelsError::InvalidMetricName { value: v.clone() });
        }
    }
    Ok(Labels::from_sorted_unchecked(
        pairs
            .into_iter()
            .map(|(name, value)| Label { name, value })
            .collect(),
    ))
}

/// Formats labels as the selector Loki's clients send (`{a="1", b="2"}`),
/// always in braces (even `__name__`), with values escaped so that
/// [`parse_labels`] reads back exactly the same labels.
pub fn format_labels(labels: &Labels) -> String {
    let mut out = String::with_capacity(
        2 + labels
            .iter()
            .map(|l| l.name.len() + l.value.len() + 5)
            .sum::<usize>(),
    );
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&l.name);
        out.push('=');
        push_quoted(&mut out, &l.value);
    }
    out.push('}');
    out
}

/// Formats `(name, value)` pairs in the given order, names unchecked (for error messages).
pub(super) fn format_pairs(pairs: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(n);
        out.push('=');
        push_quoted(&mut out, v);
    }
    out.push('}');
    out
}

/// Appends `s` double-quoted with Go escapes for `\`, `"` and control characters.
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A recursive-descent reader over the selector's bytes.
struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// What is at the current position, for messages: a quoted character or "end of input".
    fn found(&self) -> String {
        match self.s.get(self.pos..).and_then(|r| r.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "end of input".to_string(),
        }
    }

    fn error(&self, expected: &str) -> LabelsError {
        LabelsError::Syntax {
            offset: self.pos,
            message: format!("expected {expected}, found {}", self.found()),
        }
    }

    /// `{ item, ... }` and nothing after it.
    fn selector(mut self) -> Result<Vec<(String, String)>, LabelsError> {
        self.skip_ws();
        if self.peek() != Some(b'{') {
            return Err(self.error("'{'"));
        }
        self.pos += 1;
        let mut pairs = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                break;
            }
            pairs.push(self.item()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.error("',' or '}'")),
            }
        }
        self.skip_ws();
        if self.pos < self.s.len() {
            return Err(self.error("end of input after '}'"));
        }
        Ok(pairs)
    }

    /// `name = "value"`.
    fn item(&mut self) -> Result<(String, String), LabelsError> {
        let name = match self.peek() {
            Some(b'"' | b'\'' | b'`') => self.quoted()?,
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.pos;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
                    self.pos += 1;
                }
                self.s[start..self.pos].to_string()
            }
            _ => return Err(self.error("a label name")),
        };
        self.skip_ws();
        let rest = &self.s.as_bytes()[self.pos..];
        for op in ["!=", "=~", "!~"] {
            if rest.starts_with(op.as_bytes()) {
                return Err(LabelsError::Syntax {
                    offset: self.pos,
                    message: format!(
                        "only '=' is allowed between a label name and its value in stream labels, found '{op}'"
                    ),
                });
            }
        }
        if self.peek() != Some(b'=') {
            return Err(self.error("'=' after the label name"));
        }
        self.pos += 1;
        self.skip_ws();
        if !matches!(self.peek(), Some(b'"' | b'\'' | b'`')) {
            return Err(self.error("a quoted label value"));
        }
        let value = self.quoted()?;
        Ok((name, value))
    }

    /// A quoted string at the current position (which holds the quote).
    fn quoted(&mut self) -> Result<String, LabelsError> {
        let start = self.pos;
        let b = self.s.as_bytes();
        let q = b[start];
        self.pos += 1;
        let unterminated = || LabelsError::Syntax {
            offset: start,
            message: "unterminated quoted string".to_string(),
        };
        if q == b'`' {
            let len = b[self.pos..]
                .iter()
                .position(|&c| c == b'`')
                .ok_or_else(unterminated)?;
            let v = self.s[self.pos..self.pos + len].to_string();
            self.pos += len + 1;
            return Ok(v);
        }
        // Fast path: no escape before the closing quote.
        let body_start = self.pos;
        let end = b[body_start..]
            .iter()
            .position(|&c| c == q || c == b'\\' || c == b'\n');
        if let Some(n) = end {
            if b[body_start + n] == q {
                self.pos = body_start + n + 1;
                return Ok(self.s[body_start..body_start + n].to_string());
            }
        }
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(unterminated());
            };
            match c {
                b'\n' => return Err(unterminated()),
                c if c == q => {
                    self.pos += 1;
                    break;
                }
                b'\\' => self.escape(q, &mut out)?,
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| LabelsError::InvalidUtf8)
    }

    /// One escape sequence at the current position (the backslash).
    fn escape(&mut self, q: u8, out: &mut Vec<u8>) -> Result<(), LabelsError> {
        let at = self.pos;
        self.pos += 1;
        let Some(c) = self.peek() else {
            return Err(LabelsError::Syntax {
                offset: at,
                message: "unterminated quoted string".to_string(),
            });
        };
        let simple = match c {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' => Some(b'\\'),
            c if c == q => Some(q),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            self.pos += 1;
            return Ok(());
        }
        let (digits, radix, max, is_byte) = match c {
            b'0'..=b'7' => (3, 8, 255, true),
            b'x' => (2, 16, 255, true),
            b'u' => (4, 16, 0x10ffff, false),
            b'U' => (8, 16, 0x10ffff, false),
            _ => {
                return Err(LabelsError::Syntax {
                    offset: at,
                    message: format!("unknown escape sequence '\\{}'", self.found_char()),
                })
            }
        };
        if c.is_ascii_digit() {
            // Octal: the digit is the first of three.
        } else {
            self.pos += 1;
        }
        let bad = |this: &Self| LabelsError::Syntax {
            offset: at,
            message: format!(
                "invalid escape sequence '{}'",
                this.s.get(at..this.pos.min(this.s.len())).unwrap_or("\\")
            ),
        };
        let mut v: u32 = 0;
        for _ in 0..digits {
            let d = self.peek().and_then(|d| (d as char).to_digit(radix));
            match d {
                Some(d) => {
                    v = v * radix + d;
                    self.pos += 1;
                }
                None => return Err(bad(self)),
            }
        }
        if v > max || (0xd800..0xe000).contains(&v) {
            return Err(LabelsError::Syntax {
                offset: at,
                message: format!(
                    "escape sequence '{}' is an invalid Unicode code point",
                    &self.s[at..self.pos]
                ),
            });
        }
        if is_byte {
            // Octal and hex escapes are bytes (validated as UTF-8 at the end).
            out.push(v as u8);
        } else {
            let ch = char::from_u32(v).ok_or_else(|| bad(self))?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        Ok(())
    }

    fn found_char(&self) -> char {
        self.s
            .get(self.pos..)
            .and_then(|r| r.chars().next())
            .unwrap_or('?')
    }
}
