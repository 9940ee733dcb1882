//! Label matchers: `=`, `!=`, `=~`, `!~`, with Prometheus's semantics
//! (regexes are fully anchored; a missing label matches as the empty string).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

/// A compiled matcher on one label.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub op: MatchOp,
    pub name: String,
    pub value: String,
    re: Option<regex::Regex>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {reason}")]
pub struct MatcherError {
    pub pattern: String,
    pub reason: String,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.op == o.op && self.name == o.name && self.value == o.value
    }
}

impl Matcher {
    /// Compiles a matcher; regexes are anchored as `^(?s:...)$`.
    pub fn new(op: MatchOp, name: &str, value: &str) -> Result<Matcher, MatcherError> {
        let re = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(compiled(value)?),
            _ => None,
        };
        Ok(Matcher {
            op,
            name: name.to_string(),
            value: value.to_string(),
            re,
        })
    }

    /// `name="value"`.
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            op: MatchOp::Equal,
            name: name.into(),
            value: value.into(),
            re: None,
        }
    }

    /// Whether a label value (empty when absent) satisfies this matcher.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::RegexMatch => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::RegexNoMatch => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// True if the matcher matches the empty string (so also series lacking the label).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// For `=~` with a plain alternation of literals (`a|b|c`), the literals.
    pub fn set_matches(&self) -> Option<Vec<String>> {
        if self.op != MatchOp::RegexMatch {
            return None;
        }
        let special = |c: char| "\\.+*?()[]{}^$".contains(c);
        if self.value.chars().any(special) {
            return None;
        }
        Some(self.value.split('|').map(str::to_string).collect())
    }
}

/// Most compiled patterns kept by [`compiled`].
const REGEX_CACHE_SIZE: usize = 512;

/// The anchored regex of `pattern`, from a process-wide cache: dashboards
/// send the same matchers again and again, and compiling one costs far more
/// than evaluating a small query. When the cache is full it starts over.
fn compiled(pattern: &str) -> Result<regex::Regex, MatcherError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, regex::Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(re) = cache.lock().ok().and_then(|c| c.get(pattern).cloned()) {
        return Ok(re);
    }
    let re = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| MatcherError {
        pattern: pattern.to_string(),
        reason: e.to_string(),
    })?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= REGEX_CACHE_SIZE {
            c.clear();
        }
        c.insert(pattern.to_string(), re.clone());
    }
    Ok(re)
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchored_regex() {
        let m = Matcher::new(MatchOp::RegexMatch, "a", "fo+").unwrap();
        assert!(m.matches("foo"));
        assert!(!m.matches("xfoo"));
        let n = Matcher::new(MatchOp::RegexNoMatch, "a", "").unwrap();
        assert!(!n.matches(""));
        assert!(n.matches("x"));
        assert_eq!(
            Matcher::new(MatchOp::RegexMatch, "a", "x|y")
                .unwrap()
                .set_matches(),
            Some(vec!["x".into(), "y".into()])
        );
        assert!(Matcher::new(MatchOp::RegexMatch, "a", "(").is_err());
    }
}
