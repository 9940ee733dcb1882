//! Loki patterns: literals and captures, `<name>` (named) or `<_>` (skipped).

/// One part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    /// A capture; `None` for `<_>`.
    Cap(Option<String>),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    parts: Vec<Part>,
}

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Pattern {
    /// Compiles `src`. Two captures in a row are an error (nothing would
    /// separate them), as is a name captured twice.
    pub(crate) fn new(src: &str) -> Result<Pattern, String> {
        let mut parts: Vec<Part> = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while !rest.is_empty() {
            if rest.starts_with('<') {
                if let Some(end) = rest.find('>') {
                    let name = &rest[1..end];
                    if is_ident(name) {
                        if !lit.is_empty() {
                            parts.push(Part::Lit(std::mem::take(&mut lit)));
                        }
                        if matches!(parts.last(), Some(Part::Cap(_))) {
                            return Err(format!("found consecutive capture '{}'", &rest[..=end]));
                        }
                        let cap = (name != "_").then(|| name.to_string());
                        if let Some(n) = &cap {
                            if parts.iter().any(|p| *p == Part::Cap(Some(n.clone()))) {
                                return Err(format!("duplicate capture name ({n})"));
                            }
                        }
                        parts.push(Part::Cap(cap));
                        rest = &rest[end + 1..];
                        continue;
                    }
                }
            }
            let c = rest.chars().next().unwrap_or_default();
            lit.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        if parts.is_empty() {
            return Err("empty pattern".into());
        }
        Ok(Pattern { parts })
    }

    /// The named captures, in order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Cap(Some(n)) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }

    /// Loki's extraction: a leading literal must start the line; each capture
    /// then runs to the next occurrence of the literal after it (or to the end
    /// of the line when that literal is missing, which ends the match). Returns
    /// the named captures found, in order; possibly fewer than `names()`.
    pub(crate) fn captures<'l>(&self, line: &'l str) -> Vec<(&str, &'l str)> {
        let mut out = Vec::new();
        if line.is_empty() {
            return out;
        }
        let mut parts = self.parts.as_slice();
        let mut rest = line;
        if let Some(Part::Lit(l)) = parts.first() {
            match rest.strip_prefix(l.as_str()) {
                Some(r) => rest = r,
                None => return out,
            }
            parts = &parts[1..];
        }
        while let Some(Part::Cap(name)) = parts.first() {
            let next = match parts.get(1) {
                Some(Part::Lit(l)) => l,
                _ => {
                    if let Some(n) = name {
                        out.push((n.as_str(), rest));
                    }
                    return out;
                }
            };
            parts = &parts[2..];
            match rest.find(next.as_str()) {
                Some(i) => {
                    if let Some(n) = name {
                        out.push((n.as_str(), &rest[..i]));
                    }
                    rest = &rest[i + next.len()..];
                }
                None => {
                    if let Some(n) = name {
                        out.push((n.as_str(), rest));
                    }
                    return out;
                }
            }
        }
        out
    }

    /// The `|>` line filter: the whole line matches, each capture standing for
    /// any text (glob semantics: literals in order, anchored at both ends
    /// unless a capture is there).
    pub(crate) fn matches(&self, line: &str) -> bool {
        let parts = &self.parts;
        let mut rest = line;
        let mut i = 0;
        // A leading literal anchors at the start.
        if let Some(Part::Lit(l)) = parts.first() {
            match rest.strip_prefix(l.as_str()) {
                Some(r) => rest = r,
                None => return false,
            }
            i = 1;
        }
        let last_lit = match parts.last() {
            Some(Part::Lit(l)) if parts.len() > 1 => Some(l.as_str()),
            _ => None,
        };
        let end = if last_lit.is_some() {
            parts.len() - 1
        } else {
            parts.len()
        };
        while i < end {
            if let Part::Lit(l) = &parts[i] {
                match rest.find(l.as_str()) {
                    Some(j) => rest = &rest[j + l.len()..],
                    None => return false,
                }
            }
            i += 1;
        }
        match last_lit {
            Some(l) => rest.ends_with(l),
            None => {
                parts.len() > 1 || rest.is_empty() || matches!(parts.first(), Some(Part::Cap(_)))
            }
        }
    }
}
