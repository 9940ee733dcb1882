//! A logfmt reader: `key=value key2="quoted \"value\"" standalone`.

/// One pair of a logfmt line. `value` is `None` for a standalone key
/// (`debug` rather than `debug=` or `debug=""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pair {
    pub key: String,
    pub value: Option<String>,
}

/// Reads the pairs of `line`. Malformed tokens (a key starting with `=` or
/// `"`, an unterminated quote) are skipped up to the next space, unless
/// `strict`, where reading stops and the error is returned with the pairs
/// read so far.
pub(crate) fn parse(line: &str, strict: bool) -> (Vec<Pair>, Option<String>) {
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let is_space = |c: u8| c <= b' ';
    let skip_token = |mut i: usize| {
        while i < b.len() && !is_space(b[i]) {
            i += 1;
        }
        i
    };
    while i < b.len() {
        if is_space(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_space(b[i]) && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        if i == start {
            let why = format!(
                "logfmt syntax error at pos {}: unexpected '{}'",
                i + 1,
                b[i] as char
            );
            if strict {
                return (out, Some(why));
            }
            i = skip_token(i + 1);
            continue;
        }
        let key = line[start..i].to_string();
        if i >= b.len() || is_space(b[i]) {
            out.push(Pair { key, value: None });
            continue;
        }
        if b[i] == b'"' {
            let why = format!("logfmt syntax error at pos {}: unexpected '\"'", i + 1);
            if strict {
                return (out, Some(why));
            }
            i = skip_token(i);
            continue;
        }
        i += 1; // '='
        if i < b.len() && b[i] == b'"' {
            match quoted(line, i) {
                Some((v, end)) => {
                    out.push(Pair {
                        key,
                        value: Some(v),
                    });
                    i = end;
                }
                None => {
                    let why = format!(
                        "logfmt syntax error at pos {}: unterminated quoted value",
                        i + 1
                    );
                    if strict {
                        return (out, Some(why));
                    }
                    i = b.len();
                }
            }
        } else {
            let vs = i;
            while i < b.len() && !is_space(b[i]) {
                if strict && (b[i] == b'"' || b[i] == b'=') {
                    let why = format!(
                        "logfmt syntax error at pos {}: unexpected '{}'",
                        i + 1,
                        b[i] as char
                    );
                    return (out, Some(why));
                }
                i += 1;
            }
            out.push(Pair {
                key,
                value: Some(line[vs..i].to_string()),
            });
        }
    }
    (out, None)
}

/// The quoted value starting at `start` (the `"`), unescaped, and the index
/// after its closing quote.
fn quoted(line: &str, start: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut it = line[start + 1..].char_indices();
    while let Some((j, c)) = it.next() {
        match c {
            '"' => return Some((out, start + 1 + j + 1)),
            '\\' => {
                let (_, e) = it.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'u' => {
                        let mut cp = 0u32;
                        for _ in 0..4 {
                            cp = cp * 16 + it.next()?.1.to_digit(16)?;
                        }
                        out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    None
}
