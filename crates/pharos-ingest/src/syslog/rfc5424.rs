//! RFC 5424 after `<PRI>1 `: `TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP
//! MSGID SP STRUCTURED-DATA [SP MSG]`.

use super::error::{ErrorKind, Field, SyslogError};
use super::{time, Facility, Format, ParseContext, SdElement, Severity, SyslogMessage};

pub(super) const MAX_HOSTNAME: usize = 255;
pub(super) const MAX_APP_NAME: usize = 48;
pub(super) const MAX_PROCID: usize = 128;
pub(super) const MAX_MSGID: usize = 32;
pub(super) const MAX_SD_NAME: usize = 32;

const BOM: &[u8] = b"\xef\xbb\xbf";

fn err(offset: usize, kind: ErrorKind) -> SyslogError {
    SyslogError::at(Format::Rfc5424, offset, kind)
}

/// The bytes from `at` up to the next space (or the end): `(end, token)`.
fn token(msg: &[u8], at: usize) -> (usize, &[u8]) {
    let rest = msg.get(at..).unwrap_or_default();
    let len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    (at + len, &rest[..len])
}

/// One space at `at`, else an error expecting `expected`.
fn space(msg: &[u8], at: usize, expected: &'static str) -> Result<usize, SyslogError> {
    if msg.get(at) == Some(&b' ') {
        Ok(at + 1)
    } else {
        Err(err(at, ErrorKind::unexpected(expected, msg, at)))
    }
}

/// A header field of 1..=`max` PRINTUSASCII bytes or NILVALUE, at `at`.
fn header_field(
    msg: &[u8],
    at: usize,
    field: Field,
    max: usize,
) -> Result<(usize, Option<String>), SyslogError> {
    let (end, tok) = token(msg, at);
    if tok == b"-" {
        return Ok((end, None));
    }
    if tok.is_empty() {
        return Err(err(at, ErrorKind::invalid(field, tok)));
    }
    if let Some(i) = tok.iter().position(|b| !b.is_ascii_graphic()) {
        return Err(err(at + i, ErrorKind::invalid(field, tok)));
    }
    if tok.len() > max {
        return Err(err(at, ErrorKind::FieldTooLong { field, max }));
    }
    // ASCII graphic bytes only, so this is lossless.
    Ok((end, Some(String::from_utf8_lossy(tok).into_owned())))
}

/// Parses the rest of an RFC 5424 message; `at` is the byte after `<PRI>1 `.
pub(super) fn parse(
    msg: &[u8],
    at: usize,
    facility: Facility,
    severity: Severity,
    ctx: &ParseContext,
) -> Result<SyslogMessage, SyslogError> {
    let (end, tok) = token(msg, at);
    let timestamp = if tok == b"-" {
        None
    } else {
        match time::parse_rfc3339(tok, ctx.utc_offset_secs) {
            Some(ns) => Some(ns),
            None => return Err(err(at, ErrorKind::invalid(Field::Timestamp, tok))),
        }
    };
    let at = space(msg, end, "SP after TIMESTAMP")?;
    let (end, hostname) = header_field(msg, at, Field::Hostname, MAX_HOSTNAME)?;
    let at = space(msg, end, "SP after HOSTNAME")?;
    let (end, app_name) = header_field(msg, at, Field::AppName, MAX_APP_NAME)?;
    let at = space(msg, end, "SP after APP-NAME")?;
    let (end, proc_id) = header_field(msg, at, Field::ProcId, MAX_PROCID)?;
    let at = space(msg, end, "SP after PROCID")?;
    let (end, msg_id) = header_field(msg, at, Field::MsgId, MAX_MSGID)?;
    let at = space(msg, end, "SP after MSGID")?;
    let (at, structured_data) = structured_data(msg, at)?;
    let body = match msg.get(at) {
        None => &[][..],
        Some(b' ') => &msg[at + 1..],
        Some(_) => {
            return Err(err(
                at,
                ErrorKind::unexpected("SP or end of message after STRUCTURED-DATA", msg, at),
            ))
        }
    };
    let body = body.strip_prefix(BOM).unwrap_or(body);
    Ok(SyslogMessage {
        format: Format::Rfc5424,
        facility,
        severity,
        timestamp,
        received_ns: ctx.received_ns,
        hostname: hostname.or_else(|| ctx.peer_hostname()),
        app_name,
        proc_id,
        msg_id,
        structured_data,
        msg: String::from_utf8_lossy(body).into_owned(),
    })
}

/// STRUCTURED-DATA at `at`: NILVALUE or one or more SD-ELEMENTs. Returns the
/// offset just after it.
fn structured_data(msg: &[u8], at: usize) -> Result<(usize, Vec<SdElement>), SyslogError> {
    match msg.get(at) {
        Some(b'-') => return Ok((at + 1, Vec::new())),
        Some(b'[') => {}
        _ => {
            return Err(err(
                at,
                ErrorKind::unexpected("'[' or '-' starting STRUCTURED-DATA", msg, at),
            ))
        }
    }
    let mut elements = Vec::new();
    let mut at = at;
    while msg.get(at) == Some(&b'[') {
        let (end, id) = sd_name(msg, at + 1, Field::SdId)?;
        let mut el = SdElement {
            id,
            params: Vec::new(),
        };
        at = end;
        loop {
            match msg.get(at) {
                Some(b']') => {
                    at += 1;
                    break;
                }
                Some(b' ') => {
                    let (end, name) = sd_name(msg, at + 1, Field::ParamName)?;
                    if msg.get(end) != Some(&b'=') {
                        return Err(err(
                            end,
                            ErrorKind::unexpected("'=' after PARAM-NAME", msg, end),
                        ));
                    }
                    if msg.get(end + 1) != Some(&b'"') {
                        return Err(err(
                            end + 1,
                            ErrorKind::unexpected("'\"' opening PARAM-VALUE", msg, end + 1),
                        ));
                    }
                    let (end, value) = param_value(msg, end + 2)?;
                    el.params.push((name, value));
                    at = end;
                }
                _ => {
                    return Err(err(
                        at,
                        ErrorKind::unexpected("SP or ']' in SD-ELEMENT", msg, at),
                    ))
                }
            }
        }
        elements.push(el);
    }
    Ok((at, elements))
}

/// An SD-NAME (SD-ID or PARAM-NAME) at `at`: 1..=32 PRINTUSASCII except
/// `=`, SP, `]` and `"`. Ends before the first of those (or a non-printable).
fn sd_name(msg: &[u8], at: usize, field: Field) -> Result<(usize, String), SyslogError> {
    let rest = msg.get(at..).unwrap_or_default();
    let len = rest
        .iter()
        .position(|&b| !b.is_ascii_graphic() || matches!(b, b'=' | b']' | b'"'))
        .unwrap_or(rest.len());
    let name = &rest[..len];
    if name.is_empty() {
        return Err(err(at, ErrorKind::invalid(field, name)));
    }
    if len > MAX_SD_NAME {
        return Err(err(
            at,
            ErrorKind::FieldTooLong {
                field,
                max: MAX_SD_NAME,
            },
        ));
    }
    Ok((at + len, String::from_utf8_lossy(name).into_owned()))
}

/// A PARAM-VALUE starting at `at` (just after the opening quote), up to the
/// closing unescaped `"`. Returns the offset after the quote and the value
/// with `\"`, `\\` and `\]` unescaped (other backslashes kept).
fn param_value(msg: &[u8], at: usize) -> Result<(usize, String), SyslogError> {
    let mut value = Vec::new();
    let mut i = at;
    loop {
        match msg.get(i) {
            None => {
                return Err(err(
                    i,
                    ErrorKind::unexpected("'\"' closing PARAM-VALUE", msg, i),
                ))
            }
            Some(b'"') => return Ok((i + 1, String::from_utf8_lossy(&value).into_owned())),
            Some(b'\\') => match msg.get(i + 1) {
                Some(&c @ (b'"' | b'\\' | b']')) => {
                    value.push(c);
                    i += 2;
                }
                _ => {
                    value.push(b'\\');
                    i += 1;
                }
            },
            Some(&c) => {
                value.push(c);
                i += 1;
            }
        }
    }
}
