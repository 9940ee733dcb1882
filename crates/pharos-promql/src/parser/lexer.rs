//! The PromQL lexer: turns a query into tokens with byte positions.
//!
//! Keywords are not distinguished here (the parser decides from context
//! whether `offset`, `by`, `fill`, … is a keyword or a name). Lexing errors
//! become a final [`Tok::Error`] token so that the parser reports syntax
//! errors that come earlier in the input first, as Prometheus does.

use crate::ast::PosRange;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier; `colon` when it contains a `:` (a metric identifier).
    Ident(String),
    /// A number literal, with its source text.
    Number(f64),
    /// A duration literal in milliseconds.
    Duration(i64),
    /// A string literal, unquoted.
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eql,
    Neq,
    Lss,
    Lte,
    Gtr,
    Gte,
    Assign,
    EqlRegex,
    NeqRegex,
    TrimUpper,
    TrimLower,
    Eof,
    /// A lexing error with its message.
    Error(String),
}

/// A token with its position and source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: PosRange,
    pub text: String,
}

impl Token {
    /// Prometheus's description of an item in `unexpected …` messages.
    pub fn desc(&self) -> String {
        match &self.tok {
            Tok::Eof => "end of input".to_string(),
            Tok::Error(m) => m.clone(),
            Tok::Ident(s) => {
                let lower = s.to_ascii_lowercase();
                if super::parse::is_aggregator(&lower) {
                    format!("<aggr:{lower}>")
                } else if is_keyword(&lower) {
                    format!("<{s}>")
                } else if matches!(lower.as_str(), "and" | "or" | "unless" | "atan2") {
                    format!("<op:{s}>")
                } else if s.contains(':') {
                    format!("metric identifier {}", go_quote(s))
                } else {
                    format!("identifier {}", go_quote(s))
                }
            }
            Tok::Number(_) => format!("number {}", short_quote(&self.text)),
            Tok::Duration(_) => format!("duration {}", short_quote(&self.text)),
            Tok::Str(_) => format!("string {}", short_quote(&self.text)),
            Tok::Add
            | Tok::Sub
            | Tok::Mul
            | Tok::Div
            | Tok::Mod
            | Tok::Pow
            | Tok::Eql
            | Tok::Neq
            | Tok::Lss
            | Tok::Lte
            | Tok::Gtr
            | Tok::Gte
            | Tok::EqlRegex
            | Tok::NeqRegex
            | Tok::TrimUpper
            | Tok::TrimLower => format!("<op:{}>", self.text),
            _ => go_quote(&self.text),
        }
    }
}

/// Keywords other than aggregators and operator words.
fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "offset"
            | "by"
            | "without"
            | "on"
            | "ignoring"
            | "group_left"
            | "group_right"
            | "bool"
            | "start"
            | "end"
            | "step"
            | "range"
            | "anchored"
            | "smoothed"
    )
}

/// Like Go's `%.10q…`: quotes, truncating long texts to 10 characters.
fn short_quote(s: &str) -> String {
    if s.chars().count() > 10 {
        let t: String = s.chars().take(10).collect();
        format!("{}...", go_quote(&t))
    } else {
        go_quote(s)
    }
}

/// Quotes a string like Go's `%q`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Parses a duration like `1h30m` into milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let units: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut i = 0;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let n: i64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let idx = units.iter().position(|(u, _)| *u == unit)?;
        if idx < next_unit {
            return None;
        }
        next_unit = idx + 1;
        total = total.checked_add(n.checked_mul(units[idx].1)?)?;
    }
    Some(total)
}

/// Lexes the whole input. The last token is `Eof` or `Error`.
pub fn lex(input: &str) -> Vec<Token> {
    let mut lx = Lexer {
        src: input,
        b: input.as_bytes(),
        i: 0,
        out: Vec::new(),
        stack: Vec::new(),
    };
    lx.run();
    lx.out
}

struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    out: Vec<Token>,
    /// Open brackets: `(`, `[`, `{`.
    stack: Vec<u8>,
}

impl Lexer<'_> {
    fn push(&mut self, tok: Tok, start: usize) {
        let text = self.src.get(start..self.i).unwrap_or("").to_string();
        self.out.push(Token {
            tok,
            pos: PosRange { start, end: self.i },
            text,
        });
    }

    fn error(&mut self, msg: String, start: usize) {
        self.out.push(Token {
            tok: Tok::Error(msg),
            pos: PosRange {
                start,
                end: self.i.max(start),
            },
            text: String::new(),
        });
    }

    fn peek(&self, off: usize) -> u8 {
        self.b.get(self.i + off).copied().unwrap_or(0)
    }

    fn in_brackets(&self) -> bool {
        self.stack.contains(&b'[')
    }

    fn run(&mut self) {
        loop {
            // Skip whitespace and comments.
            while self.i < self.b.len() {
                let c = self.b[self.i];
                if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                    self.i += 1;
                } else if c == b'#' {
                    while self.i < self.b.len() && self.b[self.i] != b'\n' {
                        self.i += 1;
                    }
                } else {
                    break;
                }
            }
            let start = self.i;
            if self.i >= self.b.len() {
                match self.stack.last() {
                    Some(b'(') => self.error("unclosed left parenthesis".into(), start),
                    Some(b'[') => self.error("unclosed left bracket".into(), start),
                    Some(_) => self.error("unexpected end of input inside braces".into(), start),
                    None => self.push(Tok::Eof, start),
                }
                return;
            }
            let c = self.b[self.i];
            if self.stack.last() == Some(&b'{')
                && !(is_ident_start(c)
                    || matches!(c, b'"' | b'\'' | b'`' | b'=' | b'!' | b',' | b'}' | b'{'))
            {
                let ch = self.src[start..].chars().next().unwrap_or('\0');
                self.i += ch.len_utf8().max(1);
                self.error(
                    format!("unexpected character inside braces: {}", go_quote_rune(ch)),
                    start,
                );
                return;
            }
            if self.stack.last() == Some(&b'[') && matches!(c, b'"' | b'\'' | b'`') {
                self.i += 1;
                self.error(
                    format!(
                        "unexpected character in duration expression: {}",
                        go_quote_rune(c as char)
                    ),
                    start,
                );
                return;
            }
            let two = [c, self.peek(1)];
            let tok = match &two {
                b"==" => Some((Tok::Eql, 2)),
                b"!=" => Some((Tok::Neq, 2)),
                b"=~" => Some((Tok::EqlRegex, 2)),
                b"!~" => Some((Tok::NeqRegex, 2)),
                b"<=" => Some((Tok::Lte, 2)),
                b">=" => Some((Tok::Gte, 2)),
                b"</" => Some((Tok::TrimUpper, 2)),
                b">/" => Some((Tok::TrimLower, 2)),
                _ => match c {
                    b'=' => Some((Tok::Assign, 1)),
                    b'<' => Some((Tok::Lss, 1)),
                    b'>' => Some((Tok::Gtr, 1)),
                    b'+' => Some((Tok::Add, 1)),
                    b'-' => Some((Tok::Sub, 1)),
                    b'*' => Some((Tok::Mul, 1)),
                    b'/' => Some((Tok::Div, 1)),
                    b'%' => Some((Tok::Mod, 1)),
                    b'^' => Some((Tok::Pow, 1)),
                    b',' => Some((Tok::Comma, 1)),
                    b'@' => Some((Tok::At, 1)),
                    _ => None,
                },
            };
            if let Some((t, n)) = tok {
                self.i += n;
                self.push(t, start);
                continue;
            }
            match c {
                b'(' | b'[' | b'{' => {
                    if c == b'{' && self.stack.last() == Some(&b'{') {
                        self.i += 1;
                        self.error("unexpected left brace '{'".into(), start);
                        return;
                    }
                    self.stack.push(c);
                    self.i += 1;
                    let t = match c {
                        b'(' => Tok::LParen,
                        b'[' => Tok::LBracket,
                        _ => Tok::LBrace,
                    };
                    self.push(t, start);
                }
                b')' | b']' | b'}' => {
                    let open = match c {
                        b')' => b'(',
                        b']' => b'[',
                        _ => b'{',
                    };
                    self.i += 1;
                    if self.stack.last() != Some(&open) {
                        let msg = match c {
                            b')' => "unexpected right parenthesis ')'",
                            b']' => "unexpected right bracket ']'",
                            _ => "unexpected right brace '}'",
                        };
                        self.error(msg.into(), start);
                        return;
                    }
                    self.stack.pop();
                    let t = match c {
                        b')' => Tok::RParen,
                        b']' => Tok::RBracket,
                        _ => Tok::RBrace,
                    };
                    self.push(t, start);
                }
                b':' if self.in_brackets() => {
                    self.i += 1;
                    self.push(Tok::Colon, start);
                }
                b'"' | b'\'' | b'`' => {
                    if !self.string(c) {
                        return;
                    }
                }
                b'0'..=b'9' | b'.' => {
                    if !self.number() {
                        return;
                    }
                }
                c if is_ident_start(c) || c == b':' => {
                    let colon_ok = !self.in_brackets();
                    while self.i < self.b.len()
                        && (is_ident_char(self.b[self.i]) || (colon_ok && self.b[self.i] == b':'))
                    {
                        self.i += 1;
                    }
                    let word = &self.src[start..self.i];
                    let lower = word.to_ascii_lowercase();
                    if lower == "inf" || lower == "nan" {
                        let v = if lower == "inf" {
                            f64::INFINITY
                        } else {
                            f64::NAN
                        };
                        self.push(Tok::Number(v), start);
                    } else {
                        self.push(Tok::Ident(word.to_string()), start);
                    }
                }
                _ => {
                    let ch = self.src[start..].chars().next().unwrap_or('\0');
                    self.i += ch.len_utf8().max(1);
                    self.error(
                        format!("unexpected character: {}", go_quote_rune(ch)),
                        start,
                    );
                    return;
                }
            }
        }
    }

    /// Lexes a number or a duration. Returns false after an error.
    fn number(&mut self) -> bool {
        let start = self.i;
        let b = self.b;
        let mut i = self.i;
        if b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'x') | Some(b'X')) {
            i += 2;
            while i < b.len() && (b[i].is_ascii_hexdigit() || b[i] == b'_') {
                i += 1;
            }
        } else {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
                i += 1;
            }
            if i < b.len() && b[i] == b'.' {
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
                    i += 1;
                }
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mut j = i + 1;
                if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
        }
        // A trailing alphanumeric run makes this a duration (or an error).
        let mut end = i;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        let text = &self.src[start..end];
        if end > i {
            self.i = end;
            if let Some(ms) = parse_duration(text) {
                self.push(Tok::Duration(ms), start);
                return true;
            }
            let msg = if duration_units_valid(text) {
                format!("not a valid duration string: {}", go_quote(text))
            } else {
                format!("bad number or duration syntax: {}", go_quote(text))
            };
            self.error(msg, start);
            return false;
        }
        self.i = end;
        match parse_number(text) {
            Some(v) => {
                self.push(Tok::Number(v), start);
                true
            }
            None => {
                self.error(
                    format!("bad number or duration syntax: {}", go_quote(text)),
                    start,
                );
                false
            }
        }
    }

    /// Lexes a quoted string. Returns false after an error.
    fn string(&mut self, q: u8) -> bool {
        let start = self.i;
        self.i += 1;
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                self.error("unterminated quoted string".into(), start);
                return false;
            };
            if c == q {
                self.i += 1;
                break;
            }
            if q == b'`' {
                bytes.push(c);
                self.i += 1;
                continue;
            }
            if c == b'\n' {
                self.error("unterminated quoted string".into(), start);
                return false;
            }
            if c != b'\\' {
                bytes.push(c);
                self.i += 1;
                continue;
            }
            // Escape sequence.
            let esc_start = self.i;
            self.i += 1;
            let Some(&e) = self.b.get(self.i) else {
                self.error("escape sequence not terminated".into(), esc_start);
                return false;
            };
            self.i += 1;
            let simple = match e {
                b'a' => Some(7u8),
                b'b' => Some(8),
                b'f' => Some(12),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'v' => Some(11),
                b'\\' => Some(b'\\'),
                _ if e == q => Some(q),
                _ => None,
            };
            if let Some(v) = simple {
                bytes.push(v);
                continue;
            }
            let (n, radix) = match e {
                b'0'..=b'7' => (3usize, 8u32),
                b'x' => (2, 16),
                b'u' => (4, 16),
                b'U' => (8, 16),
                _ => {
                    let ch = self.src[self.i - 1..].chars().next().unwrap_or('\0');
                    self.i = self.i - 1 + ch.len_utf8();
                    self.error(
                        format!("unknown escape sequence {}", go_rune_u(ch)),
                        esc_start,
                    );
                    return false;
                }
            };
            let digits_start = if radix == 8 { self.i - 1 } else { self.i };
            let digits = self.src.get(digits_start..digits_start + n);
            let val = digits.and_then(|d| {
                if d.bytes().all(|x| (x as char).is_digit(radix)) {
                    u32::from_str_radix(d, radix).ok()
                } else {
                    None
                }
            });
            let Some(val) = val else {
                self.i = (digits_start + n).min(self.b.len());
                self.error("illegal character in escape sequence".into(), esc_start);
                return false;
            };
            self.i = digits_start + n;
            match e {
                b'u' | b'U' => match char::from_u32(val) {
                    Some(ch) => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    None => {
                        self.error(
                            "escape sequence is an invalid Unicode code point".into(),
                            esc_start,
                        );
                        return false;
                    }
                },
                _ => {
                    if val > 255 {
                        self.error("octal escape value > 255".into(), esc_start);
                        return false;
                    }
                    bytes.push(val as u8);
                }
            }
        }
        let s = String::from_utf8_lossy(&bytes).into_owned();
        self.push(Tok::Str(s), start);
        true
    }
}

/// Whether a text is digit runs each followed by a known unit (in any order).
fn duration_units_valid(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let d = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let u = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        if d == u || u == i || !matches!(&text[u..i], "y" | "w" | "d" | "h" | "m" | "s" | "ms") {
            return false;
        }
    }
    !b.is_empty()
}

/// Parses a number literal (decimal, hex, exponent; underscores between digits).
pub fn parse_number(text: &str) -> Option<f64> {
    let t: String = text.chars().filter(|&c| c != '_').collect();
    if t.is_empty() {
        return None;
    }
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok().map(|v| v as f64);
    }
    if t == "." {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Go's `%q` of a rune.
fn go_quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '\n' => "'\\n'".to_string(),
        '\t' => "'\\t'".to_string(),
        c if (c as u32) < 0x20 => format!("'\\x{:02x}'", c as u32),
        c => format!("'{c}'"),
    }
}

/// Go's `%#U` of a rune.
fn go_rune_u(c: char) -> String {
    format!("U+{:04X} '{}'", c as u32, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_basics() {
        assert_eq!(
            toks("foo{a=\"b\"}[5m]"),
            vec![
                Tok::Ident("foo".into()),
                Tok::LBrace,
                Tok::Ident("a".into()),
                Tok::Assign,
                Tok::Str("b".into()),
                Tok::RBrace,
                Tok::LBracket,
                Tok::Duration(300_000),
                Tok::RBracket,
                Tok::Eof
            ]
        );
        assert_eq!(toks("0x1F"), vec![Tok::Number(31.0), Tok::Eof]);
        assert_eq!(
            toks("1e3 .5"),
            vec![Tok::Number(1000.0), Tok::Number(0.5), Tok::Eof]
        );
        assert_eq!(toks("1h30m"), vec![Tok::Duration(5_400_000), Tok::Eof]);
        assert_eq!(
            toks("a </ b"),
            vec![
                Tok::Ident("a".into()),
                Tok::TrimUpper,
                Tok::Ident("b".into()),
                Tok::Eof
            ]
        );
        assert_eq!(toks("x # c\n"), vec![Tok::Ident("x".into()), Tok::Eof]);
        assert_eq!(toks("a:b"), vec![Tok::Ident("a:b".into()), Tok::Eof]);
        assert_eq!(toks("[5m:1m]")[2], Tok::Colon);
    }

    #[test]
    fn lexes_strings() {
        assert_eq!(
            toks(r#""a\nb\x41\u00e9\101""#),
            vec![Tok::Str("a\nbAéA".into()), Tok::Eof]
        );
        assert_eq!(toks(r"'a\'b'"), vec![Tok::Str("a'b".into()), Tok::Eof]);
        assert_eq!(toks(r"`a\n`"), vec![Tok::Str("a\\n".into()), Tok::Eof]);
        assert!(matches!(toks("\"abc").last(), Some(Tok::Error(_))));
        assert!(matches!(toks(r#""\q""#).last(), Some(Tok::Error(_))));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("20s500ms"), Some(20_500));
        assert_eq!(parse_duration("1m1h"), None);
        assert_eq!(parse_duration("5x"), None);
    }
}
