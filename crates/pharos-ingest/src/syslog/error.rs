//! Why a syslog message was refused: [`SyslogError`] names the format and the
//! byte offset within the message, [`ErrorKind`] the condition and the field
//! (named as RFC 5424's ABNF names it: `TIMESTAMP`, `APP-NAME`, `SD-ID`, ...).
//!
//! `rfc5424: byte 7: invalid TIMESTAMP "2023-13-01T00:00:00Z"`

use std::fmt;

use super::Format;

/// Longest quoted excerpt of the offending text kept in an error.
const MAX_EXCERPT: usize = 64;

/// A syslog message that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyslogError {
    /// Nothing left once the trailing `\n`, `\r\n` or NUL bytes were removed.
    #[error("empty message")]
    Empty,
    /// The message is malformed at byte `offset` (0-based, from the start of
    /// the message as given to [`parse`](super::parse)).
    #[error("{format}: byte {offset}: {kind}")]
    Invalid {
        format: Format,
        offset: usize,
        kind: ErrorKind,
    },
}

impl SyslogError {
    pub(super) fn at(format: Format, offset: usize, kind: ErrorKind) -> SyslogError {
        SyslogError::Invalid {
            format,
            offset,
            kind,
        }
    }

    /// The byte offset of the problem, if it has one.
    pub fn offset(&self) -> Option<usize> {
        match self {
            SyslogError::Empty => None,
            SyslogError::Invalid { offset, .. } => Some(*offset),
        }
    }
}

/// What was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The field's text does not follow its grammar; `value` is an excerpt
    /// of it (at most 64 bytes, invalid UTF-8 replaced).
    #[error("invalid {field} {value:?}")]
    InvalidField { field: Field, value: String },
    /// The field is longer than the RFC 5424 maximum for it.
    #[error("{field} longer than {max} bytes")]
    FieldTooLong { field: Field, max: usize },
    /// Something else was expected here; `got` describes what was found.
    #[error("expected {expected}, got {got}")]
    Unexpected { expected: &'static str, got: Got },
}

impl ErrorKind {
    pub(super) fn invalid(field: Field, value: &[u8]) -> ErrorKind {
        ErrorKind::InvalidField {
            field,
            value: excerpt(value),
        }
    }

    /// `expected`, and the byte at `at` in `msg` (or the end of the message).
    pub(super) fn unexpected(expected: &'static str, msg: &[u8], at: usize) -> ErrorKind {
        ErrorKind::Unexpected {
            expected,
            got: msg.get(at).map_or(Got::End, |&b| Got::Byte(b)),
        }
    }
}

/// What was found where something else was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    /// This byte.
    Byte(u8),
    /// The end of the message.
    End,
}

impl fmt::Display for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Got::End => f.write_str("end of message"),
            Got::Byte(b) if b.is_ascii_graphic() || *b == b' ' => write!(f, "{:?}", *b as char),
            Got::Byte(b) => write!(f, "byte 0x{b:02x}"),
        }
    }
}

/// A syslog message field, as RFC 5424's ABNF names it (RFC 3164's TAG is
/// parsed as APP-NAME and PROCID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    Pri,
    Version,
    Timestamp,
    Hostname,
    AppName,
    ProcId,
    MsgId,
    StructuredData,
    SdId,
    ParamName,
    ParamValue,
}

impl Field {
    /// The ABNF name: `PRI`, `TIMESTAMP`, `APP-NAME`, `SD-ID`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Pri => "PRI",
            Field::Version => "VERSION",
            Field::Timestamp => "TIMESTAMP",
            Field::Hostname => "HOSTNAME",
            Field::AppName => "APP-NAME",
            Field::ProcId => "PROCID",
            Field::MsgId => "MSGID",
            Field::StructuredData => "STRUCTURED-DATA",
            Field::SdId => "SD-ID",
            Field::ParamName => "PARAM-NAME",
            Field::ParamValue => "PARAM-VALUE",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// At most [`MAX_EXCERPT`] bytes of `b` as text, `...` marking a cut.
fn excerpt(b: &[u8]) -> String {
    if b.len() <= MAX_EXCERPT {
        return String::from_utf8_lossy(b).into_owned();
    }
    let mut s = String::from_utf8_lossy(&b[..MAX_EXCERPT]).into_owned();
    s.push_str("...");
    s
}
