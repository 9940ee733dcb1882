//! The LogQL lexer, following the token rules of Loki's lexer (Go's
//! `text/scanner` plus Loki's own look-ahead):
//!
//! - keywords are case-insensitive (`BY`, `Json`); function names (`rate`,
//!   `sum`, `bytes`, `ip`, ...) are functions only when `(` or `by (`/
//!   `without (` follows, identifiers otherwise (`| rate="x"` is a filter);
//! - a number directly followed by duration characters (`5m`, `1h30m`,
//!   `1.5s`, `100us`) is a duration (Prometheus syntax first, then Go's);
//!   otherwise, followed by size characters (`20MB`, `2.5KiB`), a byte size;
//! - `-` directly followed by a duration is a negative duration (`offset -1h`);
//!   `--strict` and `--keep-empty` are parser flags;
//! - `[...]` is one token, a Prometheus duration;
//! - strings are Go strings: `"..."` with escapes, or raw `` `...` ``;
//! - `#`, `//` and `/* */` start comments.
//!
//! A lexing error becomes the last token, so the parser reports a syntax error
//! earlier in the query first, as Loki does.

use std::time::Duration;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A label name or other identifier.
    Ident(String),
    /// A string literal, unquoted.
    Str(String),
    /// A number, as written.
    Number(String),
    /// A duration in nanoseconds (`5m`, `-1h`).
    Duration(i64),
    /// A byte size (`20MB`).
    Bytes(u64),
    /// `[5m]`.
    Range(Duration),
    /// `--strict` or `--keep-empty`.
    Flag(&'static str),
    /// A keyword, lower case (`by`, `json`, `and`, ...).
    Kw(&'static str),
    /// A function name followed by `(` (`rate`, `sum`, `bytes`, `ip`, ...).
    Func(&'static str),
    Comma,
    Dot,
    LBrace,
    RBrace,
    LParen,
    RParen,
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
    /// `!>`
    Npa,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|>`
    PipePattern,
    /// `|`
    Pipe,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `==`
    CmpEq,
    Gt,
    Gte,
    Lt,
    Lte,
    Eof,
    /// A lexing error, with its message.
    Error(String),
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// Words that are always keywords.
pub(crate) const KEYWORDS: [&str; 24] = [
    "by",
    "without",
    "bool",
    "offset",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "or",
    "and",
    "unless",
    "json",
    "regexp",
    "logfmt",
    "unpack",
    "pattern",
    "label_format",
    "line_format",
    "decolorize",
    "drop",
    "keep",
    "unwrap",
    "variants",
    "of",
];

/// Words that are functions when followed by `(` (or `by (`/`without (`),
/// identifiers otherwise.
const FUNCTIONS: [&str; 33] = [
    "rate",
    "rate_counter",
    "count_over_time",
    "bytes_rate",
    "bytes_over_time",
    "avg_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "absent_over_time",
    "vector",
    "sum",
    "avg",
    "max",
    "min",
    "count",
    "stddev",
    "stdvar",
    "bottomk",
    "topk",
    "sort",
    "sort_desc",
    "approx_topk",
    "label_replace",
    "bytes",
    "duration",
    "duration_seconds",
    "ip",
];

const FLAGS: [&str; 2] = ["--strict", "--keep-empty"];

impl Tok {
    /// The token's name in `unexpected ...` messages, as Loki's parser names it.
    pub(crate) fn desc(&self) -> String {
        let s = match self {
            Tok::Ident(_) => "IDENTIFIER",
            Tok::Str(_) => "STRING",
            Tok::Number(_) => "NUMBER",
            Tok::Duration(_) => "DURATION",
            Tok::Bytes(_) => "BYTES",
            Tok::Range(_) => "RANGE",
            Tok::Flag(_) => "PARSER_FLAG",
            Tok::Kw(k) => k,
            Tok::Func(f) => {
                return match *f {
                    "ip" | "label_replace" => f.to_string(),
                    "bytes" | "duration" | "duration_seconds" => {
                        format!("{}_CONV", f.to_ascii_uppercase())
                    }
                    _ => f.to_ascii_uppercase(),
                }
            }
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Eq => "=",
            Tok::Neq => "!=",
            Tok::Re => "=~",
            Tok::Nre => "!~",
            Tok::Npa => "!>",
            Tok::PipeExact => "|=",
            Tok::PipeMatch => "|~",
            Tok::PipePattern => "|>",
            Tok::Pipe => "|",
            Tok::Add => "+",
            Tok::Sub => "-",
            Tok::Mul => "*",
            Tok::Div => "/",
            Tok::Mod => "%",
            Tok::Pow => "^",
            Tok::CmpEq => "==",
            Tok::Gt => ">",
            Tok::Gte => ">=",
            Tok::Lt => "<",
            Tok::Lte => "<=",
            Tok::Eof => "$end",
            Tok::Error(m) => m,
        };
        s.to_string()
    }
}

/// Splits `src` into tokens, ending with [`Tok::Eof`] or, at the first
/// lexing error, [`Tok::Error`].
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let mut l = Lexer { src, i: 0 };
    if src.starts_with('\u{feff}') {
        l.i = '\u{feff}'.len_utf8();
    }
    let mut out = Vec::new();
    loop {
        let (tok, pos) = l.next_token();
        let end = matches!(tok, Tok::Eof | Tok::Error(_));
        out.push(Token { tok, pos });
        if end {
            return out;
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    i: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    is_ident_start(c) || c.is_numeric()
}

fn is_duration_char(c: char) -> bool {
    c.is_numeric() || matches!(c, '.' | 'n' | 'u' | 'µ' | 'm' | 's' | 'h' | 'd' | 'w' | 'y')
}

fn is_bytes_char(c: char) -> bool {
    c.is_numeric() || matches!(c, '.' | 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P')
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.i..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    /// End of the run of characters from `from` that satisfy `ok`.
    fn run_end(&self, from: usize, ok: fn(char) -> bool) -> usize {
        let tail = self.src.get(from..).unwrap_or("");
        from + tail.find(|c: char| !ok(c)).unwrap_or(tail.len())
    }

    /// Skips white space and comments; an unterminated block comment is an error.
    fn skip_space(&mut self) -> Result<(), (String, usize)> {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start_matches(is_space);
            self.i += rest.len() - trimmed.len();
            if trimmed.starts_with('#') || trimmed.starts_with("//") {
                let len = trimmed.find('\n').unwrap_or(trimmed.len());
                self.i += len;
            } else if trimmed.starts_with("/*") {
                match trimmed.get(2..).and_then(|t| t.find("*/")) {
                    Some(end) => self.i += end + 4,
                    None => return Err(("comment not terminated".into(), self.i)),
                }
            } else {
                return Ok(());
            }
        }
    }

    fn next_token(&mut self) -> (Tok, usize) {
        if let Err((msg, pos)) = self.skip_space() {
            return (Tok::Error(msg), pos);
        }
        let start = self.i;
        let Some(c) = self.peek() else {
            return (Tok::Eof, start);
        };
        let tok = if c.is_ascii_digit()
            || (c == '.' && self.peek2().is_some_and(|d| d.is_ascii_digit()))
        {
            self.number()
        } else if is_ident_start(c) {
            self.word()
        } else if c == '"' {
            self.string()
        } else if c == '`' {
            self.raw_string()
        } else if c == '[' {
            self.range()
        } else if c == '-' {
            self.minus()
        } else {
            self.operator(c)
        };
        (tok, start)
    }

    fn number(&mut self) -> Tok {
        let start = self.i;
        let b = self.src.as_bytes();
        let digits = |mut j: usize| {
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            j
        };
        let mut j = digits(start);
        if b.get(j) == Some(&b'.') {
            j = digits(j + 1);
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let k = digits(j);
            if k == j {
                self.i = k;
                return Tok::Error("exponent has no digits".into());
            }
            j = k;
        }
        let text = self.src.get(start..j).unwrap_or("");
        self.i = j;
        // A duration or a byte size continues directly after the number.
        let end = self.run_end(j, is_duration_char);
        if end > j {
            let cand = self.src.get(start..end).unwrap_or("");
            if let Some(d) = lexer_duration(cand) {
                self.i = end;
                return Tok::Duration(d);
            }
        }
        let end = self.run_end(j, is_bytes_char);
        if end > j {
            let cand = self.src.get(start..end).unwrap_or("");
            if let Some(n) = humanize_bytes(cand) {
                self.i = end;
                return Tok::Bytes(n);
            }
        }
        Tok::Number(text.to_string())
    }

    fn word(&mut self) -> Tok {
        let start = self.i;
        let end = self.run_end(start, is_ident_char);
        self.i = end;
        let text = self.src.get(start..end).unwrap_or("");
        let lower = text.to_lowercase();
        if let Some(f) = FUNCTIONS.iter().find(|f| **f == lower) {
            return if is_function(self.rest()) {
                Tok::Func(f)
            } else {
                Tok::Ident(text.to_string())
            };
        }
        if let Some(k) = KEYWORDS.iter().find(|k| **k == lower) {
            return Tok::Kw(k);
        }
        Tok::Ident(text.to_string())
    }

    fn minus(&mut self) -> Tok {
        let start = self.i;
        if self.peek2() == Some('-') {
            let end = self.run_end(start + 1, |c| c == '-' || c.is_alphabetic());
            let cand = self.src.get(start..end).unwrap_or("");
            if let Some(f) = FLAGS.iter().find(|f| **f == cand) {
                self.i = end;
                return Tok::Flag(f);
            }
        }
        let end = self.run_end(start + 1, is_duration_char);
        if end > start + 1 {
            if let Some(d) = self.src.get(start..end).and_then(lexer_duration) {
                self.i = end;
                return Tok::Duration(d);
            }
        }
        self.i = start + 1;
        Tok::Sub
    }

    fn range(&mut self) -> Tok {
        let start = self.i;
        let rest = self.src.get(start + 1..).unwrap_or("");
        match rest.find(']') {
            Some(len) => {
                self.i = start + 1 + len + 1;
                let text = rest.get(..len).unwrap_or("");
                match prom_duration(text) {
                    Ok(ns) => Tok::Range(Duration::from_nanos(ns)),
                    Err(e) => Tok::Error(e),
                }
            }
            None => {
                self.i = self.src.len();
                Tok::Error("missing closing ']' in duration".into())
            }
        }
    }

    fn operator(&mut self, c: char) -> Tok {
        let two = self.rest().get(..2).unwrap_or("");
        let tok2 = match two {
            "!=" => Some(Tok::Neq),
            "=~" => Some(Tok::Re),
            "!~" => Some(Tok::Nre),
            "!>" => Some(Tok::Npa),
            "|=" => Some(Tok::PipeExact),
            "|~" => Some(Tok::PipeMatch),
            "|>" => Some(Tok::PipePattern),
            "==" => Some(Tok::CmpEq),
            ">=" => Some(Tok::Gte),
            "<=" => Some(Tok::Lte),
            _ => None,
        };
        if let Some(t) = tok2 {
            self.i += 2;
            return t;
        }
        let tok = match c {
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '=' => Tok::Eq,
            '|' => Tok::Pipe,
            '+' => Tok::Add,
            '*' => Tok::Mul,
            '/' => Tok::Div,
            '%' => Tok::Mod,
            '^' => Tok::Pow,
            '>' => Tok::Gt,
            '<' => Tok::Lt,
            '\0' => Tok::Error("invalid character NUL".into()),
            _ => Tok::Error(format!(
                "syntax error: unexpected character {}",
                quote_char(c)
            )),
        };
        self.i += c.len_utf8();
        tok
    }

    fn string(&mut self) -> Tok {
        let start = self.i;
        match unquote(self.src.get(start..).unwrap_or("")) {
            Ok((s, len)) => {
                self.i = start + len;
                Tok::Str(s)
            }
            Err(e) => {
                self.i = self.src.len();
                Tok::Error(e.into())
            }
        }
    }

    fn raw_string(&mut self) -> Tok {
        let start = self.i;
        let rest = self.src.get(start + 1..).unwrap_or("");
        match rest.find('`') {
            Some(len) => {
                let body = rest.get(..len).unwrap_or("");
                self.i = start + len + 2;
                if body.contains('\0') {
                    return Tok::Error("invalid character NUL".into());
                }
                Tok::Str(body.to_string())
            }
            None => {
                self.i = self.src.len();
                Tok::Error("literal not terminated".into())
            }
        }
    }
}

/// Loki's `isFunction`: after optional space, `(` or `by`/`without` then `(`.
fn is_function(rest: &str) -> bool {
    let r = rest.trim_start();
    if r.starts_with('(') {
        return true;
    }
    for kw in ["by", "without"] {
        if r.get(..kw.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(kw))
        {
            let after = r.get(kw.len()..).unwrap_or("").trim_start();
            return after.starts_with('(');
        }
    }
    false
}

fn quote_char(c: char) -> String {
    let mut s = String::new();
    s.push('\'');
    if c.is_control() {
        s.push_str(&format!("\\u{:04x}", c as u32));
    } else {
        s.push(c);
    }
    s.push('\'');
    s
}

/// Unquotes a Go double-quoted string at the start of `s`; returns the value
/// and the length of the literal, or the Go scanner's error message.
fn unquote(s: &str) -> Result<(String, usize), &'static str> {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 1;
    let hex = |from: usize, n: usize| -> Option<u32> {
        let t = s.get(from..from + n)?;
        if t.bytes().all(|c| c.is_ascii_hexdigit()) {
            u32::from_str_radix(t, 16).ok()
        } else {
            None
        }
    };
    loop {
        let Some(&c) = b.get(i) else {
            return Err("literal not terminated");
        };
        match c {
            b'"' => break,
            b'\n' => return Err("literal not terminated"),
            0 => return Err("invalid character NUL"),
            b'\\' => {
                let Some(&e) = b.get(i + 1) else {
                    return Err("invalid char escape");
                };
                let simple = match e {
                    b'a' => Some(7),
                    b'b' => Some(8),
                    b'f' => Some(12),
                    b'n' => Some(b'\n'),
                    b'r' => Some(b'\r'),
                    b't' => Some(b'\t'),
                    b'v' => Some(11),
                    b'\\' => Some(b'\\'),
                    b'"' => Some(b'"'),
                    _ => None,
                };
                if let Some(v) = simple {
                    out.push(v);
                    i += 2;
                    continue;
                }
                match e {
                    b'0'..=b'7' => {
                        let t = s.get(i + 1..i + 4).ok_or("invalid char escape")?;
                        if !t.bytes().all(|d| (b'0'..=b'7').contains(&d)) {
                            return Err("invalid char escape");
                        }
                        let v = u32::from_str_radix(t, 8).map_err(|_| "invalid char escape")?;
                        out.push(u8::try_from(v).map_err(|_| "invalid syntax")?);
                        i += 4;
                    }
                    b'x' => {
                        let v = hex(i + 2, 2).ok_or("invalid char escape")?;
                        out.push(u8::try_from(v).map_err(|_| "invalid syntax")?);
                        i += 4;
                    }
                    b'u' | b'U' => {
                        let n = if e == b'u' { 4 } else { 8 };
                        let v = hex(i + 2, n).ok_or("invalid char escape")?;
                        let ch = char::from_u32(v).ok_or("invalid syntax")?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        i += 2 + n;
                    }
                    _ => return Err("invalid char escape"),
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    let value = String::from_utf8(out).map_err(|_| "invalid UTF-8 in string literal")?;
    Ok((value, i + 1))
}

/// A duration token: Prometheus syntax first, then Go's `time.ParseDuration`.
pub(crate) fn lexer_duration(s: &str) -> Option<i64> {
    if let Ok(ns) = prom_duration(s) {
        return i64::try_from(ns).ok();
    }
    go_duration(s)
}

const NS_PER_MS: u64 = 1_000_000;

/// Prometheus' `model.ParseDuration`, in nanoseconds: units `y w d h m s ms`,
/// each at most once, biggest first; `0` alone is zero.
pub(crate) fn prom_duration(s: &str) -> Result<u64, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000 * NS_PER_MS),
        ("w", 7 * 24 * 3600 * 1000 * NS_PER_MS),
        ("d", 24 * 3600 * 1000 * NS_PER_MS),
        ("h", 3600 * 1000 * NS_PER_MS),
        ("m", 60 * 1000 * NS_PER_MS),
        ("s", 1000 * NS_PER_MS),
        ("ms", NS_PER_MS),
    ];
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {}", super::print::quote(s));
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last: Option<usize> = None;
    while i < b.len() {
        let d0 = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == d0 {
            return Err(invalid());
        }
        let v: u64 = s
            .get(d0..i)
            .and_then(|t| t.parse().ok())
            .ok_or_else(invalid)?;
        let u0 = i;
        while b.get(i).is_some_and(|c| !c.is_ascii_digit()) {
            i += 1;
        }
        if i == u0 {
            return Err(invalid());
        }
        let unit = s.get(u0..i).unwrap_or("");
        let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                super::print::quote(unit),
                super::print::quote(s)
            ));
        };
        if last.is_some_and(|l| idx <= l) {
            return Err(invalid());
        }
        last = Some(idx);
        let (_, mult) = UNITS[idx];
        if v > (1u64 << 63) / mult {
            return Err("duration out of range".into());
        }
        total = total.saturating_add(v * mult);
        if total > i64::MAX as u64 {
            return Err("duration out of range".into());
        }
    }
    Ok(total)
}

/// Go's `time.ParseDuration`, in nanoseconds; `None` on any error.
pub(crate) fn go_duration(s: &str) -> Option<i64> {
    const MAX: u64 = 1 << 63;
    let (neg, mut s) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !b.first().is_some_and(|c| *c == b'.' || c.is_ascii_digit()) {
            return None;
        }
        // Integer part.
        let mut i = 0;
        let mut v: u64 = 0;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if v > MAX / 10 {
                return None;
            }
            v = v * 10 + u64::from(c - b'0');
            if v > MAX {
                return None;
            }
            i += 1;
        }
        let pre = i > 0;
        // Fraction.
        let mut f: u64 = 0;
        let mut scale = 1.0f64;
        let mut post = false;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let f0 = i;
            let mut overflow = false;
            while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                i += 1;
                if overflow {
                    continue;
                }
                if f > (MAX - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > MAX {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = i > f0;
        }
        if !pre && !post {
            return None;
        }
        // Unit.
        let u0 = i;
        while b.get(i).is_some_and(|c| *c != b'.' && !c.is_ascii_digit()) {
            i += 1;
        }
        if i == u0 {
            return None;
        }
        let unit: u64 = match s.get(u0..i)? {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        if v > MAX / unit {
            return None;
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > MAX {
                return None;
            }
        }
        d = d.checked_add(v).filter(|d| *d <= MAX)?;
        s = s.get(i..)?;
    }
    if neg {
        // d <= 2^63, so -d fits.
        return Some((d as i128).wrapping_neg() as i64);
    }
    i64::try_from(d).ok()
}

/// go-humanize's `ParseBytes` (`20MB` = 20·1000², `2.5KiB` = 2560).
pub(crate) fn humanize_bytes(s: &str) -> Option<u64> {
    let last = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(s.len());
    let num: String = s.get(..last)?.chars().filter(|c| *c != ',').collect();
    let f: f64 = num.parse().ok()?;
    let extra = s.get(last..)?.trim().to_lowercase();
    let k: u64 = 1000;
    let ki: u64 = 1024;
    let mult: u64 = match extra.as_str() {
        "" | "b" => 1,
        "k" | "kb" => k,
        "ki" | "kib" => ki,
        "m" | "mb" => k.pow(2),
        "mi" | "mib" => ki.pow(2),
        "g" | "gb" => k.pow(3),
        "gi" | "gib" => ki.pow(3),
        "t" | "tb" => k.pow(4),
        "ti" | "tib" => ki.pow(4),
        "p" | "pb" => k.pow(5),
        "pi" | "pib" => ki.pow(5),
        "e" | "eb" => k.pow(6),
        "ei" | "eib" => ki.pow(6),
        _ => return None,
    };
    let v = f * mult as f64;
    if v.is_nan() || v >= 18_446_744_073_709_551_616.0 {
        return None;
    }
    Some(v as u64)
}
