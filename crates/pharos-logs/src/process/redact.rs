//! Redaction: the built-in patterns of the `redact` stage and the Luhn
//! check shared with the `luhn` stage.
//!
//! A [`Redactor`] is a regular expression, the capture group that holds the
//! secret (the whole match when none: `password=` stays, what follows it
//! goes), and an optional check on the candidate (card numbers must pass
//! the Luhn check, so order ids and timestamps are left alone).

use regex::Regex;

/// One compiled redaction pattern.
#[derive(Debug, Clone)]
pub(crate) struct Redactor {
    re: Regex,
    /// Capture group holding the secret; 0: the whole match.
    group: usize,
    check: Option<fn(&str) -> bool>,
}

/// Keys whose values are credentials in `key=value`, `key: value` and JSON
/// `"key": "value"` forms.
const KEY_VALUE: &str = r#"("?\s*[:=]\s*"?)([^\s"',;&]+)"#;

/// (name, regex, group, Luhn-checked).
const BUILTINS: [(&str, &str, usize, bool); 9] = [
    ("credit_card", r"\b[0-9](?:[ -]?[0-9]){12,18}\b", 0, true),
    ("password", r#"(?i)(passw(?:or)?d|\bpwd)"#, 3, false),
    (
        "secret",
        r#"(?i)(secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"#,
        3,
        false,
    ),
    (
        "bearer_token",
        r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]+)",
        2,
        false,
    ),
    (
        "basic_auth",
        r"(?i)(\bbasic\s+)([A-Za-z0-9+/]{8,}={0,2})",
        2,
        false,
    ),
    (
        "aws_key",
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b",
        0,
        false,
    ),
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
        0,
        false,
    ),
    ("url_password", r"(://[^:/@\s]+:)([^@/\s]+)(@)", 2, false),
    (
        "email",
        r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",
        0,
        false,
    ),
];

/// Names of the built-in patterns.
pub(crate) fn builtin_names() -> Vec<&'static str> {
    BUILTINS.iter().map(|b| b.0).collect()
}

/// True when the digits of `s` (spaces and dashes ignored) pass the Luhn check.
pub(crate) fn luhn_ok(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl Redactor {
    /// The built-in pattern `name`.
    pub(crate) fn builtin(name: &str) -> Option<Redactor> {
        let (_, re, group, luhn) = BUILTINS.iter().find(|b| b.0 == name)?;
        let src = if *group == 3 {
            // key=value forms: the key alternatives, then KEY_VALUE.
            format!("{re}{KEY_VALUE}")
        } else {
            (*re).to_string()
        };
        let re = Regex::new(&src).ok()?;
        Some(Redactor {
            re,
            group: *group,
            check: luhn.then_some(luhn_ok as fn(&str) -> bool),
        })
    }

    /// Card numbers of at least `min_len` digits passing the Luhn check.
    pub(crate) fn luhn(min_len: usize) -> Result<Redactor, regex::Error> {
        let min = min_len.clamp(2, 64);
        let re = Regex::new(&format!(r"\b[0-9](?:[ -]?[0-9]){{{},}}\b", min - 1))?;
        Ok(Redactor {
            re,
            group: 0,
            check: Some(luhn_ok),
        })
    }

    /// A user's expression: its capture groups are the secrets, or the
    /// whole match when it has none.
    pub(crate) fn custom(expr: &str) -> Result<Redactor, regex::Error> {
        let re = Regex::new(expr)?;
        let group = if re.captures_len() > 1 { usize::MAX } else { 0 };
        Ok(Redactor {
            re,
            group,
            check: None,
        })
    }

    /// Replaces the secrets in `text`; `None` when there were none.
    pub(crate) fn apply(&self, text: &str, replacement: &str) -> Option<String> {
        let mut out = String::new();
        let mut last = 0;
        let mut changed = false;
        for caps in self.re.captures_iter(text) {
            let spans: Vec<(usize, usize)> = if self.group == usize::MAX {
                (1..caps.len())
                    .filter_map(|i| caps.get(i).map(|m| (m.start(), m.end())))
                    .collect()
            } else {
                caps.get(self.group)
                    .map(|m| (m.start(), m.end()))
                    .into_iter()
                    .collect()
            };
            for (s, e) in spans {
                if s < last || s == e {
                    continue;
                }
                if let Some(check) = self.check {
                    if !check(&text[s..e]) {
                        continue;
                    }
                }
                out.push_str(&text[last..s]);
                out.push_str(replacement);
                last = e;
                changed = true;
            }
        }
        if !changed {
            return None;
        }
        out.push_str(&text[last..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(name: &str, text: &str) -> String {
        Redactor::builtin(name)
            .unwrap()
            .apply(text, "****")
            .unwrap_or_else(|| text.to_string())
    }

    #[test]
    fn every_builtin_compiles() {
        for n in builtin_names() {
            assert!(Redactor::builtin(n).is_some(), "{n}");
        }
    }

    #[test]
    fn builtins() {
        assert_eq!(
            red("credit_card", "paid with 4111 1111 1111 1111 ok"),
            "paid with **** ok"
        );
        assert_eq!(
            red("credit_card", "card=4111-1111-1111-1111;"),
            "card=****;"
        );
        // Not Luhn-valid: left alone.
        assert_eq!(
            red("credit_card", "order 1234567890123"),
            "order 1234567890123"
        );
        assert_eq!(
            red("password", "user=bob password=hunter2 x=1"),
            "user=bob password=**** x=1"
        );
        assert_eq!(
            red("password", r#"{"user":"bob","password":"hunter2"}"#),
            r#"{"user":"bob","password":"****"}"#
        );
        assert_eq!(red("password", "DB_PASSWORD: s3cr3t"), "DB_PASSWORD: ****");
        assert_eq!(red("password", "passwordless=true"), "passwordless=true");
        assert_eq!(
            red("secret", "api_key=abc123 token: xyz"),
            "api_key=**** token: ****"
        );
        assert_eq!(
            red("bearer_token", "Authorization: Bearer eyJhbGciOi.x.y"),
            "Authorization: Bearer ****"
        );
        assert_eq!(
            red("basic_auth", "Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: Basic ****"
        );
        assert_eq!(
            red("aws_key", "key AKIAIOSFODNN7EXAMPLE used"),
            "key **** used"
        );
        assert_eq!(
            red("jwt", "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x"),
            "t=****"
        );
        assert_eq!(
            red("url_password", "dsn=postgres://app:pw1@db:5432/x"),
            "dsn=postgres://app:****@db:5432/x"
        );
        assert_eq!(red("email", "from ana@example.org to"), "from **** to");
    }

    #[test]
    fn custom_and_luhn() {
        let r = Redactor::custom(r"ssn=(\d{3})-(\d{2})-\d{4}").unwrap();
        assert_eq!(r.apply("ssn=123-45-6789", "X").unwrap(), "ssn=X-X-6789");
        let r = Redactor::custom(r"\d{3}-\d{2}-\d{4}").unwrap();
        assert_eq!(r.apply("ssn=123-45-6789", "X").unwrap(), "ssn=X");
        assert!(r.apply("nothing", "X").is_none());
        let r = Redactor::luhn(13).unwrap();
        assert_eq!(r.apply("4111111111111111", "*").unwrap(), "*");
        assert!(r.apply("79927398713", "*").is_none()); // valid but 11 digits
        assert!(luhn_ok("79927398713"));
        assert!(!luhn_ok("79927398710"));
    }
}
