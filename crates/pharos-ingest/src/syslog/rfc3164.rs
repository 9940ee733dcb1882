//! RFC 3164 / BSD syslog after the (optional) PRI:
//! `[TIMESTAMP SP [HOSTNAME SP]] [TAG SP] MSG`, with the leniencies the
//! module doc lists.

use super::error::{ErrorKind, Field, SyslogError};
use super::time::{self, BsdMatch};
use super::{Facility, Format, ParseContext, Severity, SyslogMessage};

const BOM: &[u8] = b"\xef\xbb\xbf";

fn err(offset: usize, kind: ErrorKind) -> SyslogError {
    SyslogError::at(Format::Rfc3164, offset, kind)
}

/// The bytes from `at` up to the next space (or the end): `(end, token)`.
fn token(msg: &[u8], at: usize) -> (usize, &[u8]) {
    let rest = msg.get(at..).unwrap_or_default();
    let len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    (at + len, &rest[..len])
}

/// Parses an RFC 3164 message from `at` (the byte after PRI, or 0 without one).
pub(super) fn parse(
    msg: &[u8],
    at: usize,
    facility: Facility,
    severity: Severity,
    ctx: &ParseContext,
) -> Result<SyslogMessage, SyslogError> {
    let mut at = at;
    let rest = msg.get(at..).unwrap_or_default();
    let mut timestamp = None;
    match time::match_bsd_date(rest) {
        BsdMatch::Date { date, len } => {
            let ns = time::bsd_to_unix_ns(&date, ctx.year, ctx.utc_offset_secs, ctx.received_ns)
                .ok_or_else(|| err(at, ErrorKind::invalid(Field::Timestamp, &rest[..len])))?;
            timestamp = Some(ns);
            at += len;
        }
        BsdMatch::Invalid { len } => {
            return Err(err(at, ErrorKind::invalid(Field::Timestamp, &rest[..len])));
        }
        BsdMatch::No if time::looks_like_rfc3339(rest) => {
            let (end, tok) = token(msg, at);
            let ns = time::parse_rfc3339(tok, ctx.utc_offset_secs)
                .ok_or_else(|| err(at, ErrorKind::invalid(Field::Timestamp, tok)))?;
            timestamp = Some(ns);
            at = end;
        }
        BsdMatch::No => {}
    }

    let mut hostname = None;
    if timestamp.is_some() {
        at = skip_spaces(msg, at);
        let (end, tok) = token(msg, at);
        if is_hostname(tok) {
            hostname = Some(String::from_utf8_lossy(tok).into_owned());
            at = skip_spaces(msg, end);
        }
    }

    let (end, tok) = token(msg, at);
    let (app_name, proc_id) = match tag(tok) {
        Some((name, pid)) => {
            at = end;
            if msg.get(at) == Some(&b' ') {
                at += 1;
            }
            (Some(name), pid)
        }
        None => (None, None),
    };

    let body = msg.get(at..).unwrap_or_default();
    let body = body.strip_prefix(BOM).unwrap_or(body);
    Ok(SyslogMessage {
        format: Format::Rfc3164,
        facility,
        severity,
        timestamp,
        received_ns: ctx.received_ns,
        hostname: hostname.or_else(|| ctx.peer_hostname()),
        app_name,
        proc_id,
        msg_id: None,
        structured_data: Vec::new(),
        msg: String::from_utf8_lossy(body).into_owned(),
    })
}

fn skip_spaces(msg: &[u8], mut at: usize) -> usize {
    while msg.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

/// A hostname or address: letters, digits, `.`, `-`, `_` and `:` (IPv6),
/// not ending with `:` (that is a TAG).
fn is_hostname(tok: &[u8]) -> bool {
    !tok.is_empty()
        && tok.last() != Some(&b':')
        && tok
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

/// A TAG word: `name:`, `name[pid]:` or `name[pid]`, where `name` is
/// printable ASCII without `[`, `]` and `:`, and `pid` printable ASCII
/// without brackets. Returns the name and the pid.
fn tag(tok: &[u8]) -> Option<(String, Option<String>)> {
    let (body, colon) = match tok.strip_suffix(b":") {
        Some(body) => (body, true),
        None => (tok, false),
    };
    let name_ok = |n: &[u8]| {
        !n.is_empty()
            && n.iter()
                .all(|&b| b.is_ascii_graphic() && !matches!(b, b'[' | b']' | b':'))
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match body.iter().position(|&b| b == b'[') {
        Some(open) => {
            let pid = body.get(open + 1..)?.strip_suffix(b"]")?;
            let name = &body[..open];
            let pid_ok = !pid.is_empty()
                && pid
                    .iter()
                    .all(|&b| b.is_ascii_graphic() && !matches!(b, b'[' | b']'));
            (name_ok(name) && pid_ok).then(|| (text(name), Some(text(pid))))
        }
        None if colon && name_ok(body) => Some((text(body), None)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let t = |s: &str| tag(s.as_bytes());
        assert_eq!(t("su:"), Some(("su".into(), None)));
        assert_eq!(t("sshd[123]:"), Some(("sshd".into(), Some("123".into()))));
        assert_eq!(t("sshd[123]"), Some(("sshd".into(), Some("123".into()))));
        assert_eq!(
            t("postfix/smtpd[99]:"),
            Some(("postfix/smtpd".into(), Some("99".into())))
        );
        for no in [
            "hello", "", ":", "[1]:", "a[]:", "a[1", "a[1]x:", "a:b:", "a[[1]]:",
        ] {
            assert_eq!(t(no), None, "{no}");
        }
    }

    #[test]
    fn hostnames() {
        for yes in ["host", "10.0.0.99", "fe80::1", "my-host.example_1"] {
            assert!(is_hostname(yes.as_bytes()), "{yes}");
        }
        for no in ["", "su:", "sshd[1]:", "a/b", "h\u{e9}"] {
            assert!(!is_hostname(no.as_bytes()), "{no}");
        }
    }
}
