//! Series selectors as the `match[]` parameter takes them: `name`,
//! `name{label="v", other=~"re"}`, `{__name__=~"x.*"}`.
//!
//! This is the selector subset of PromQL; it knows nothing of storage. Errors
//! name the byte position, in Prometheus's words where they exist.

use pharos_model::{MatchOp, Matcher, METRIC_NAME};

/// Parses one selector into matchers. At least one matcher must not match the
/// empty string, as Prometheus requires.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, String> {
    let mut p = P {
        s: input.as_bytes(),
        src: input,
        i: 0,
    };
    let mut out = Vec::new();
    p.ws();
    let name = p.ident(true);
    if let Some(n) = &name {
        out.push(Matcher::equal(METRIC_NAME, n));
    }
    p.ws();
    if p.peek() == Some(b'{') {
        p.i += 1;
        loop {
            p.ws();
            if p.peek() == Some(b'}') {
                p.i += 1;
                break;
            }
            let pos = p.i;
            let lname = match p.ident(false) {
                Some(n) => n,
                None if p.peek() == Some(b'"') => p.string()?,
                None => return Err(p.err("unexpected character inside braces", pos)),
            };
            p.ws();
            let op = if p.eat("=~") {
                MatchOp::RegexMatch
            } else if p.eat("!~") {
                MatchOp::RegexNoMatch
            } else if p.eat("!=") {
                MatchOp::NotEqual
            } else if p.eat("=") {
                MatchOp::Equal
            } else {
                return Err(p.err(
                    &format!("unexpected character after label name {lname:?}"),
                    p.i,
                ));
            };
            p.ws();
            let v = p.string()?;
            let m = Matcher::new(op, &lname, &v)
                .map_err(|e| format!("1:{}: parse error: {e}", pos + 1))?;
            if lname == METRIC_NAME && name.is_some() {
                return Err(format!(
                    "1:{}: parse error: metric name must not be set twice: {:?} or {:?}",
                    pos + 1,
                    name.as_deref().unwrap_or(""),
                    v
                ));
            }
            out.push(m);
            p.ws();
            if p.eat(",") {
                continue;
            }
            p.ws();
            if p.eat("}") {
                break;
            }
            return Err(p.err("unexpected character in label matching expression", p.i));
        }
    } else if name.is_none() {
        return Err(p.err("unexpected character in selector", p.i));
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected characters after selector", p.i));
    }
    if out.iter().all(|m| m.matches_empty()) {
        return Err(
            "parse error: vector selector must contain at least one non-empty matcher".into(),
        );
    }
    Ok(out)
}

struct P<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.s[self.i..].starts_with(t.as_bytes()) {
            self.i += t.len();
            true
        } else {
            false
        }
    }
    fn err(&self, msg: &str, pos: usize) -> String {
        format!("1:{}: parse error: {msg}", pos + 1)
    }
    fn ident(&mut self, metric: bool) -> Option<String> {
        let st = self.i;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == b'_'
                || (metric && c == b':')
                || (self.i > st && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.i += 1;
        }
        (self.i > st).then(|| self.src[st..self.i].to_string())
    }
    fn string(&mut self) -> Result<String, String> {
        let st = self.i;
        let q = match self.peek() {
            Some(c @ (b'"' | b'\'' | b'`')) => c,
            _ => return Err(self.err("expected string literal", st)),
        };
        self.i += 1;
        let mut out = String::new();
        let rest = &self.src[self.i..];
        let mut chars = rest.char_indices();
        while let Some((k, c)) = chars.next() {
            if c as u32 == q as u32 {
                self.i += k + 1;
                return Ok(out);
            }
            if c == '\\' && q != b'`' {
                match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, '\'')) => out.push('\''),
                    Some((_, c)) => {
                        out.push('\\');
                        out.push(c)
                    }
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        Err(self.err("unterminated quoted string", st))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let m = parse_selector(r#"up{job="a", x=~"b.*",}"#).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0], Matcher::equal("__name__", "up"));
        assert_eq!(m[2].op, MatchOp::RegexMatch);
        assert!(parse_selector("up").is_ok());
        assert!(parse_selector(r#"{__name__=~"a.+"}"#).is_ok());
        assert!(parse_selector(r#"{a=""}"#).is_err());
        assert!(parse_selector(r#"up{a="b""#).is_err());
        assert!(parse_selector("up{a}").is_err());
        assert!(parse_selector(r#"{job="x\"y"}"#).unwrap()[0].value == "x\"y");
    }
}
