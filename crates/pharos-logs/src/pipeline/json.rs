//! A small JSON reader for the `json` and `unpack` parsers: enough to walk
//! objects, flatten them and follow `a.b[0]`/`a["b"]` paths.

/// Deepest nesting accepted; deeper documents are a parse error (no stack overflow).
const MAX_DEPTH: usize = 128;

/// A parsed JSON value. Objects and arrays keep their source text, which is
/// what a path that ends on them extracts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    /// The number as written.
    Num(&'a str),
    Str(String),
    Arr(Vec<Json<'a>>, &'a str),
    Obj(Vec<(String, Json<'a>)>, &'a str),
}

impl Json<'_> {
    /// The label value Loki extracts through a path: strings unescaped,
    /// numbers and booleans as written, objects and arrays as their JSON
    /// text, null as "".
    pub(crate) fn as_label_value(&self) -> String {
        match self {
            Json::Null => String::new(),
            Json::Bool(b) => b.to_string(),
            Json::Num(n) => (*n).to_string(),
            Json::Str(s) => s.clone(),
            Json::Arr(_, raw) | Json::Obj(_, raw) => (*raw).to_string(),
        }
    }
}

/// Parses one JSON value at the start of `s` (trailing text is ignored, as
/// Loki's parser ignores it).
pub(crate) fn parse(s: &str) -> Result<Json<'_>, String> {
    let mut p = P { s, i: 0 };
    p.ws();
    p.value(0)
}

struct P<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at offset {}", self.i))
    }
    fn eat(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(&format!("expected '{}'", c as char))
        }
    }
    fn value(&mut self, depth: usize) -> Result<Json<'a>, String> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        let start = self.i;
        match self.peek() {
            None => self.err("unexpected end of input"),
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                        let v = self.value(depth + 1)?;
                        fields.push((k, v));
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.err("expected ',' or '}'"),
                        }
                    }
                }
                Ok(Json::Obj(fields, &self.s[start..self.i]))
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.err("expected ',' or ']'"),
                        }
                    }
                }
                Ok(Json::Arr(items, &self.s[start..self.i]))
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                ) {
                    self.i += 1;
                }
                let n = &self.s[start..self.i];
                if n.parse::<f64>().is_err() {
                    return self.err("invalid number");
                }
                Ok(Json::Num(n))
            }
            Some(_) => self.err("unexpected character"),
        }
    }
    fn word(&mut self, w: &str, v: Json<'a>) -> Result<Json<'a>, String> {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }
    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or("truncated \\u escape")?;
        let v = u32::from_str_radix(h, 16).map_err(|_| "invalid \\u escape".to_string())?;
        self.i += 4;
        Ok(v)
    }
    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.i..];
            let n = rest.find(['"', '\\']).ok_or("unterminated string")?;
            out.push_str(&rest[..n]);
            self.i += n;
            if self.peek() == Some(b'"') {
                self.i += 1;
                return Ok(out);
            }
            self.i += 1; // the backslash
            let c = self.peek().ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let mut cp = self.hex4()?;
                    if (0xD800..0xDC00).contains(&cp) && self.s[self.i..].starts_with("\\u") {
                        self.i += 2;
                        let lo = self.hex4()?;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3ff);
                    }
                    out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                }
                _ => return self.err("invalid escape"),
            }
        }
    }
}

/// Loki's label-name sanitising: every character outside `[A-Za-z0-9_]`
/// becomes `_`; with `first`, a leading digit gets a `_` prefix.
pub(crate) fn sanitize(key: &str, first: bool) -> String {
    let key = key.trim();
    let mut out = String::with_capacity(key.len() + 1);
    if first && key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// The `json` parser without parameters: every string, number and boolean
/// leaf of the object, named by its path joined with `_` (arrays and nulls
/// are skipped).
pub(crate) fn flatten(obj: &[(String, Json<'_>)], prefix: &str, out: &mut Vec<(String, String)>) {
    for (k, v) in obj {
        let name = if prefix.is_empty() {
            sanitize(k, true)
        } else {
            format!("{prefix}_{}", sanitize(k, false))
        };
        match v {
            Json::Obj(fields, _) => flatten(fields, &name, out),
            Json::Str(_) | Json::Num(_) | Json::Bool(_) => out.push((name, v.as_label_value())),
            Json::Null | Json::Arr(..) => {}
        }
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PathStep {
    Key(String),
    Index(usize),
}

/// Parses a path such as `a.b[0]`, `a["b c"].d`, `["x"]`.
pub(crate) fn parse_path(expr: &str) -> Result<Vec<PathStep>, String> {
    let b = expr.as_bytes();
    let mut i = 0;
    let mut steps = Vec::new();
    let bad = |why: &str| Err(format!("invalid JSON path {expr:?}: {why}"));
    while i < b.len() {
        match b[i] {
            b'.' if !steps.is_empty() => i += 1,
            b'[' => {
                i += 1;
                if b.get(i) == Some(&b'"') {
                    let rest = &expr[i + 1..];
                    let Some(end) = rest.find('"') else {
                        return bad("unterminated string");
                    };
                    steps.push(PathStep::Key(rest[..end].to_string()));
                    i += end + 2;
                } else {
                    let rest = &expr[i..];
                    let end = rest.find(']').unwrap_or(rest.len());
                    match rest[..end].trim().parse::<usize>() {
                        Ok(n) => steps.push(PathStep::Index(n)),
                        Err(_) => return bad("bad index"),
                    }
                    i += end;
                }
                if b.get(i) != Some(&b']') {
                    return bad("expected ']'");
                }
                i += 1;
            }
            _ => {
                let rest = &expr[i..];
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                if end == 0 {
                    return bad("empty key");
                }
                steps.push(PathStep::Key(rest[..end].to_string()));
                i += end;
            }
        }
    }
    if steps.is_empty() {
        return bad("empty path");
    }
    Ok(steps)
}

/// The value at `path`, if any.
pub(crate) fn lookup<'j, 'a>(root: &'j Json<'a>, path: &[PathStep]) -> Option<&'j Json<'a>> {
    let mut cur = root;
    for step in path {
        cur = match (step, cur) {
            (PathStep::Key(k), Json::Obj(fields, _)) => {
                // Last occurrence wins, as with a decoded map.
                &fields.iter().rev().find(|(n, _)| n == k)?.1
            }
            (PathStep::Index(n), Json::Arr(items, _)) => items.get(*n)?,
            _ => return None,
        };
    }
    Some(cur)
}
