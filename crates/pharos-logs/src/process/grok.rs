//! Grok: regular expressions written with named, reusable patterns, as
//! Logstash's grok filter reads them: `%{NAME}` inserts pattern `NAME`,
//! `%{NAME:field}` also captures what it matched as `field`, and
//! `%{NAME:field:int}` names a type (accepted; values stay text).
//!
//! [`Grok::compile`] expands a pattern against the built-in [`LIBRARY`] and
//! the stage's own definitions (which win) into one `regex::Regex`. Each
//! `%{...:field}` becomes a group named `_grokN`, so a field may be named
//! twice (the first non-empty capture wins) and field names need not be
//! valid group names. Named groups written directly (`(?P<x>...)` or
//! `(?<x>...)`) capture too. Matching is unanchored, as in Logstash.
//!
//! The library is ours, written for Rust's `regex` (no look-around, no
//! atomic groups); its names and the fields of the composite patterns are
//! Logstash's legacy (non-ECS) ones.

use std::collections::HashMap;

use regex::Regex;

/// The built-in patterns: `NAME definition`, one per line.
pub const LIBRARY: &str = r#"
USERNAME [a-zA-Z0-9._-]+
USER %{USERNAME}
EMAILLOCALPART [a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*
EMAILADDRESS %{EMAILLOCALPART}@%{HOSTNAME}
INT [+-]?[0-9]+
BASE10NUM [+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
NUMBER %{BASE10NUM}
BASE16NUM [+-]?(?:0[xX])?[0-9A-Fa-f]+
BASE16FLOAT [+-]?(?:0[xX])?(?:[0-9A-Fa-f]+(?:\.[0-9A-Fa-f]*)?|\.[0-9A-Fa-f]+)
POSINT \b[1-9][0-9]*\b
NONNEGINT \b[0-9]+\b
WORD \b\w+\b
NOTSPACE \S+
SPACE \s*
DATA .*?
GREEDYDATA .*
QUOTEDSTRING "(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`
QS %{QUOTEDSTRING}
DQCONTENT (?:[^"\\]|\\.)*
UUID [A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}
URN urn:[0-9A-Za-z][0-9A-Za-z-]{0,31}:(?:%[0-9a-fA-F]{2}|[0-9A-Za-z()+,.:=@;$_!*'/?#-])+
MAC %{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC}
CISCOMAC (?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4}
WINDOWSMAC (?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2}
COMMONMAC (?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2}
IPV4 \b(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}\b
IPV6 (?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){6}%{IPV4}|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?::(?:[0-9A-Fa-f]{1,4}:){0,5}%{IPV4}|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)(?:%[0-9A-Za-z._-]+)?
IP %{IPV6}|%{IPV4}
HOSTNAME \b[0-9A-Za-z][0-9A-Za-z-]{0,62}(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*\.?
HOST %{HOSTNAME}
IPORHOST %{IP}|%{HOSTNAME}
HOSTPORT %{IPORHOST}:%{POSINT}
PATH %{UNIXPATH}|%{WINPATH}
UNIXPATH (?:/[\w_%!$@:.,+~-]*)+
WINPATH (?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+
URIPROTO [A-Za-z][A-Za-z0-9+.-]*
URIHOST %{IPORHOST}(?::%{POSINT})?
URIPATH (?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_-]*)+
URIQUERY [A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\[\]<>-]*
URIPARAM \?%{URIQUERY}
URIPATHPARAM %{URIPATH}(?:\?%{URIQUERY})?
URI %{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATHPARAM})?
MONTH \b(?:[Jj]an(?:uary)?|[Ff]eb(?:ruary)?|[Mm]ar(?:ch)?|[Aa]pr(?:il)?|[Mm]ay|[Jj]une?|[Jj]uly?|[Aa]ug(?:ust)?|[Ss]ep(?:t(?:ember)?)?|[Oo]ct(?:ober)?|[Nn]ov(?:ember)?|[Dd]ec(?:ember)?)\b
MONTHNUM 1[0-2]|0?[1-9]
MONTHNUM2 0[1-9]|1[0-2]
MONTHDAY 3[01]|[12][0-9]|0?[1-9]
DAY \b(?:[Mm]on(?:day)?|[Tt]ue(?:sday)?|[Ww]ed(?:nesday)?|[Tt]hu(?:rsday)?|[Ff]ri(?:day)?|[Ss]at(?:urday)?|[Ss]un(?:day)?)\b
YEAR [0-9]{4}|[0-9]{2}
HOUR 2[0-3]|[01]?[0-9]
MINUTE [0-5][0-9]
SECOND (?:60|[0-5]?[0-9])(?:[:.,][0-9]+)?
TIME %{HOUR}:%{MINUTE}(?::%{SECOND})?
DATE_US %{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}
DATE_EU %{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}
ISO8601_TIMEZONE Z|[+-]%{HOUR}(?::?%{MINUTE})?
ISO8601_SECOND %{SECOND}
TIMESTAMP_ISO8601 %{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?
DATE %{DATE_US}|%{DATE_EU}
DATESTAMP %{DATE}[- ]%{TIME}
TZ \b[A-Z]{3,5}\b
DATESTAMP_RFC822 %{DAY} %{MONTH} %{MONTHDAY} %{YEAR} %{TIME} %{TZ}
DATESTAMP_RFC2822 %{DAY}, %{MONTHDAY} %{MONTH} %{YEAR} %{TIME} %{ISO8601_TIMEZONE}
DATESTAMP_OTHER %{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{TZ} %{YEAR}
HTTPDATE %{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}
SYSLOGTIMESTAMP %{MONTH} +%{MONTHDAY} %{TIME}
PROG [\x21-\x5a\x5c\x5e-\x7e]+
SYSLOGPROG %{PROG:program}(?:\[%{POSINT:pid}\])?
SYSLOGHOST %{IPORHOST}
SYSLOGFACILITY <%{NONNEGINT:facility}\.%{NONNEGINT:priority}>
SYSLOGPRI <%{NONNEGINT:syslog_pri}>
SYSLOGBASE %{SYSLOGTIMESTAMP:timestamp} (?:%{SYSLOGFACILITY} )?%{SYSLOGHOST:logsource} %{SYSLOGPROG}:
SYSLOGLINE (?:%{SYSLOGPRI})?(?:%{SYSLOGTIMESTAMP:timestamp}|%{TIMESTAMP_ISO8601:timestamp}) (?:%{SYSLOGFACILITY} )?%{SYSLOGHOST:logsource} %{SYSLOGPROG}: ?%{GREEDYDATA:message}
LOGLEVEL \b(?i:alert|trace|debug|notice|info(?:rmation)?|warn(?:ing)?|err(?:or)?|crit(?:ical)?|fatal|severe|emerg(?:ency)?)\b
HTTPDUSER %{EMAILADDRESS}|%{USER}
HTTPDERROR_DATE %{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{YEAR}
COMMONAPACHELOG %{IPORHOST:clientip} %{HTTPDUSER:ident} %{HTTPDUSER:auth} \[%{HTTPDATE:timestamp}\] "(?:%{WORD:verb} %{NOTSPACE:request}(?: HTTP/%{NUMBER:httpversion})?|%{DATA:rawrequest})" (?:-|%{NUMBER:response}) (?:-|%{NUMBER:bytes})
COMBINEDAPACHELOG %{COMMONAPACHELOG} "%{DQCONTENT:referrer}" "%{DQCONTENT:agent}"
NGINXACCESS %{COMBINEDAPACHELOG}
"#;

/// Deepest nesting of `%{...}` references (catches cycles).
const MAX_DEPTH: usize = 32;

/// Prefix of the capture groups standing for `%{NAME:field}`.
const GROUP_PREFIX: &str = "_grok";

/// Why a grok pattern does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrokError {
    /// `%{NAME}` names no pattern.
    Unknown(String),
    /// Malformed `%{...}`, a cycle, or a regex that does not compile.
    Bad(String),
}

/// A compiled grok pattern.
#[derive(Debug, Clone)]
pub struct Grok {
    re: Regex,
    /// (capture group index, field name), in pattern order.
    fields: Vec<(usize, String)>,
}

/// The built-in library as a map.
fn library() -> &'static HashMap<&'static str, &'static str> {
    static LIB: std::sync::OnceLock<HashMap<&'static str, &'static str>> =
        std::sync::OnceLock::new();
    LIB.get_or_init(|| LIBRARY.lines().filter_map(|l| l.split_once(' ')).collect())
}

/// Names of the built-in patterns, sorted.
pub fn builtin_names() -> Vec<&'static str> {
    let mut v: Vec<_> = library().keys().copied().collect();
    v.sort_unstable();
    v
}

struct Expander<'a> {
    custom: &'a HashMap<String, String>,
    out: String,
    fields: Vec<String>,
}

impl Expander<'_> {
    fn expand(&mut self, pat: &str, depth: usize) -> Result<(), GrokError> {
        if depth > MAX_DEPTH {
            return Err(GrokError::Bad(
                "patterns nest too deeply (a pattern refers to itself?)".into(),
            ));
        }
        let mut rest = pat;
        while let Some(i) = rest.find("%{") {
            self.out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                return Err(GrokError::Bad(format!("unclosed %{{ in {pat:?}")));
            };
            let spec = &after[..end];
            rest = &after[end + 1..];
            let mut parts = spec.splitn(3, ':');
            let name = parts.next().unwrap_or("");
            let field = parts.next().filter(|f| !f.is_empty());
            if let Some(t) = parts.next() {
                if !matches!(t, "int" | "float" | "string") {
                    return Err(GrokError::Bad(format!(
                        "type {t:?} of %{{{spec}}} is not int, float or string"
                    )));
                }
            }
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(GrokError::Bad(format!(
                    "invalid pattern name in %{{{spec}}}"
                )));
            }
            let def: &str = match self.custom.get(name) {
                Some(d) => d,
                None => library()
                    .get(name)
                    .copied()
                    .ok_or_else(|| GrokError::Unknown(name.to_string()))?,
            };
            match field {
                Some(f) => {
                    self.out
                        .push_str(&format!("(?P<{GROUP_PREFIX}{}>", self.fields.len()));
                    self.fields.push(f.to_string());
                }
                None => self.out.push_str("(?:"),
            }
            self.expand(def, depth + 1)?;
            self.out.push(')');
        }
        self.out.push_str(rest);
        Ok(())
    }
}

impl Grok {
    /// Expands and compiles `pattern`; `custom` definitions win over the
    /// library.
    pub fn compile(pattern: &str, custom: &HashMap<String, String>) -> Result<Grok, GrokError> {
        let mut x = Expander {
            custom,
            out: String::new(),
            fields: Vec::new(),
        };
        x.expand(pattern, 0)?;
        let re = regex::RegexBuilder::new(&x.out)
            .size_limit(64 << 20)
            .build()
            .map_err(|e| {
                let s = e.to_string();
                let last = s.lines().last().unwrap_or("").trim();
                GrokError::Bad(last.strip_prefix("error: ").unwrap_or(last).to_string())
            })?;
        let mut fields = Vec::new();
        for (i, name) in re.capture_names().enumerate() {
            let Some(name) = name else { continue };
            match name
                .strip_prefix(GROUP_PREFIX)
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) => {
                    if let Some(f) = x.fields.get(n) {
                        fields.push((i, f.clone()));
                    }
                }
                None => fields.push((i, name.to_string())),
            }
        }
        if fields.is_empty() {
            return Err(GrokError::Bad(
                "the pattern captures no field (write %{NAME:field})".into(),
            ));
        }
        Ok(Grok { re, fields })
    }

    /// The fields captured from `text`, in pattern order, each name once
    /// (the first non-empty capture wins); `None` when it does not match.
    pub fn captures<'t>(&self, text: &'t str) -> Option<Vec<(&str, &'t str)>> {
        let caps = self.re.captures(text)?;
        let mut out: Vec<(&str, &'t str)> = Vec::with_capacity(self.fields.len());
        for (i, name) in &self.fields {
            let Some(m) = caps.get(*i) else { continue };
            match out.iter_mut().find(|(n, _)| n == name) {
                Some(slot) if slot.1.is_empty() => slot.1 = m.as_str(),
                Some(_) => {}
                None => out.push((name.as_str(), m.as_str())),
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grok(p: &str) -> Grok {
        Grok::compile(p, &HashMap::new()).unwrap()
    }

    fn get<'a>(caps: &'a [(&str, &str)], name: &str) -> Option<&'a str> {
        caps.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    #[test]
    fn every_library_pattern_compiles() {
        for name in builtin_names() {
            let x = Grok::compile(&format!("%{{{name}:x}}"), &HashMap::new());
            assert!(x.is_ok(), "{name}: {x:?}");
        }
    }

    #[test]
    fn combined_apache_and_nginx() {
        let g = grok("%{COMBINEDAPACHELOG}");
        let line = r#"203.0.113.9 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?a=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
        let c = g.captures(line).unwrap();
        assert_eq!(get(&c, "clientip"), Some("203.0.113.9"));
        assert_eq!(get(&c, "ident"), Some("-"));
        assert_eq!(get(&c, "auth"), Some("frank"));
        assert_eq!(get(&c, "timestamp"), Some("10/Oct/2000:13:55:36 -0700"));
        assert_eq!(get(&c, "verb"), Some("GET"));
        assert_eq!(get(&c, "request"), Some("/apache_pb.gif?a=1"));
        assert_eq!(get(&c, "httpversion"), Some("1.0"));
        assert_eq!(get(&c, "response"), Some("200"));
        assert_eq!(get(&c, "bytes"), Some("2326"));
        assert_eq!(
            get(&c, "referrer"),
            Some("http://www.example.com/start.html")
        );
        assert_eq!(get(&c, "agent"), Some("Mozilla/4.08 [en] (Win98; I ;Nav)"));
        // NGINX's default `combined` format, IPv6 client, no body.
        let line = r#"2001:db8::7 - - [01/Feb/2024:08:00:01 +0000] "POST /api/v1/push HTTP/2.0" 204 - "-" "curl/8.5.0""#;
        let c = g.captures(line).unwrap();
        assert_eq!(get(&c, "clientip"), Some("2001:db8::7"));
        assert_eq!(get(&c, "response"), Some("204"));
        assert_eq!(get(&c, "bytes"), None);
        assert_eq!(get(&c, "agent"), Some("curl/8.5.0"));
    }

    #[test]
    fn syslog_lines() {
        let g = grok("%{SYSLOGLINE}");
        let c = g
            .captures("Mar  7 04:02:11 web-1 sshd[4123]: Accepted publickey for deploy")
            .unwrap();
        assert_eq!(get(&c, "timestamp"), Some("Mar  7 04:02:11"));
        assert_eq!(get(&c, "logsource"), Some("web-1"));
        assert_eq!(get(&c, "program"), Some("sshd"));
        assert_eq!(get(&c, "pid"), Some("4123"));
        assert_eq!(get(&c, "message"), Some("Accepted publickey for deploy"));
        let c = g.captures("2024-03-07T04:02:11.5Z db kernel: oom").unwrap();
        assert_eq!(get(&c, "timestamp"), Some("2024-03-07T04:02:11.5Z"));
        assert_eq!(get(&c, "program"), Some("kernel"));
        assert_eq!(get(&c, "pid"), None);
        let g = grok("%{SYSLOGBASE} %{GREEDYDATA:rest}");
        let c = g.captures("Jan 12 10:00:00 10.0.0.1 cron[1]: job").unwrap();
        assert_eq!(get(&c, "logsource"), Some("10.0.0.1"));
        assert_eq!(get(&c, "rest"), Some("job"));
    }

    #[test]
    fn small_patterns() {
        let g = grok(
            r"%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{UUID:id} %{IP:ip} %{NUMBER:n:float} %{QUOTEDSTRING:q} %{GREEDYDATA:rest}",
        );
        let c = g
            .captures(r#"2024-05-01 10:11:12,345+02:00 WARNING 123e4567-e89b-12d3-a456-426614174000 192.168.0.10 -3.5 "a \"b\"" tail text"#)
            .unwrap();
        assert_eq!(get(&c, "ts"), Some("2024-05-01 10:11:12,345+02:00"));
        assert_eq!(get(&c, "level"), Some("WARNING"));
        assert_eq!(get(&c, "id"), Some("123e4567-e89b-12d3-a456-426614174000"));
        assert_eq!(get(&c, "ip"), Some("192.168.0.10"));
        assert_eq!(get(&c, "n"), Some("-3.5"));
        assert_eq!(get(&c, "q"), Some(r#""a \"b\"""#));
        assert_eq!(get(&c, "rest"), Some("tail text"));
        for (ip, want) in [
            ("::1", "::1"),
            ("fe80::1%eth0", "fe80::1%eth0"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8:0:0:1:0:0:1"),
            ("::ffff:192.0.2.128", "::ffff:192.0.2.128"),
            ("2001:db8::1:2 x", "2001:db8::1:2"),
        ] {
            let g = grok("^%{IPV6:ip}");
            let c = g.captures(ip).unwrap();
            assert_eq!(get(&c, "ip"), Some(want), "{ip}");
        }
        assert!(grok("^%{IPV4:ip}$").captures("1.2.3.256").is_none());
        let g = grok("%{URIPATHPARAM:u} %{HOSTNAME:h} %{INT:i} %{WORD:w}");
        let c = g.captures("/a/b?c=d&e=f api.example.com -12 word").unwrap();
        assert_eq!(get(&c, "u"), Some("/a/b?c=d&e=f"));
        assert_eq!(get(&c, "h"), Some("api.example.com"));
        assert_eq!(get(&c, "i"), Some("-12"));
        assert_eq!(get(&c, "w"), Some("word"));
        let g = grok("%{HTTPDATE:d}");
        let c = g.captures("[10/Oct/2000:13:55:36 -0700]").unwrap();
        assert_eq!(get(&c, "d"), Some("10/Oct/2000:13:55:36 -0700"));
    }

    #[test]
    fn custom_definitions_named_groups_and_errors() {
        let mut custom = HashMap::new();
        custom.insert("ORDER".to_string(), r"ord-[0-9]+".to_string());
        let g = Grok::compile(r"%{ORDER:order} by (?P<who>\w+)", &custom).unwrap();
        let c = g.captures("ord-42 by ana").unwrap();
        assert_eq!(get(&c, "order"), Some("ord-42"));
        assert_eq!(get(&c, "who"), Some("ana"));
        assert_eq!(
            Grok::compile("%{FOO:x}", &custom).unwrap_err(),
            GrokError::Unknown("FOO".into())
        );
        assert!(matches!(
            Grok::compile("%{WORD:x", &custom),
            Err(GrokError::Bad(_))
        ));
        assert!(matches!(
            Grok::compile("%{WORD}", &custom),
            Err(GrokError::Bad(_))
        ));
        assert!(matches!(
            Grok::compile("%{WORD:x:date}", &custom),
            Err(GrokError::Bad(_))
        ));
        custom.insert("LOOP".to_string(), "%{LOOP}".to_string());
        assert!(matches!(
            Grok::compile("%{LOOP:x}", &custom),
            Err(GrokError::Bad(_))
        ));
        // A field named twice: the first non-empty capture wins.
        let g = grok("(?:%{INT:n}|x=%{WORD:n})");
        assert_eq!(get(&g.captures("x=abc").unwrap(), "n"), Some("abc"));
    }
}
