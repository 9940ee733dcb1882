//! Syslog, receiver side: [`parse`] one message (RFC 5424 or RFC 3164 / BSD,
//! detected per message), map it to a log stream entry
//! ([`SyslogMessage::to_entry`]), and cut a TCP byte stream into messages
//! ([`Framer`], RFC 6587).
//!
//! # Formats
//!
//! A message is **RFC 5424** when its PRI is followed by the version `1` and a
//! space: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.
//! The header is parsed strictly (any deviation is a [`SyslogError`] naming
//! the field and byte), with four deliberate leniencies: up to 9 fractional
//! digits in TIMESTAMP (RFC 5424 allows 6), a TIMESTAMP without offset read
//! as the sender's local time ([`ParseContext::utc_offset_secs`]), lowercase
//! `t`/`z` as RFC 3339 allows, and an unescaped `]` inside a PARAM-VALUE.
//! NILVALUE `-` gives `None`. PARAM-VALUE escapes `\"`, `\\` and `\]` are
//! undone; a backslash before anything else is kept, as RFC 5424 §6.3.3 says.
//! A UTF-8 BOM at the start of MSG is dropped. Leap seconds (`:60`) are refused.
//!
//! Anything else is **RFC 3164 / BSD**, parsed leniently as rsyslog does:
//!
//! - `<PRI>` is optional; without one (or with an unusable one such as
//!   `<999>`) the priority is `user.notice` (13) and the message is parsed
//!   from its first byte (RFC 3164 §4.3.3).
//! - TIMESTAMP is optional and may be a BSD date (`Oct 11 22:14:15`, day
//!   space-, zero- or un-padded, optional `.fraction`, optional year before
//!   the time as Cisco writes it) or RFC 3339 (`2023-10-11T22:14:15.003+02:00`,
//!   rsyslog's high-precision format). A BSD date has no year and no zone: it
//!   is read in [`ParseContext::utc_offset_secs`] and in [`ParseContext::year`],
//!   or, when that is `None`, in the latest of the next, current and previous
//!   year that puts it at most 31 days after [`ParseContext::received_ns`] (a
//!   December line read on January 1st belongs to last year, a line from
//!   February read in November to this year). A token shaped like a date but
//!   out of range (`Feb 30 10:00:00`, or `Feb 29` with no leap year at hand)
//!   is an error, not message text.
//! - HOSTNAME follows a timestamp unless the next word looks like a TAG (it
//!   ends with `:` or has a `[pid]`), the "missing host" variant of local
//!   sockets (`<30>Oct 11 22:14:15 systemd[1]: Started.`). Without a timestamp
//!   there is no hostname (as in rsyslog). A hostname is letters, digits and
//!   `.-_:`.
//! - TAG is the next word when it is `name:`, `name[pid]:` or `name[pid]`;
//!   `name` becomes APP-NAME and `pid` PROCID. A first word without either
//!   is message text, not a tag (so `<13>Oct 11 22:14:15 host hello world`
//!   keeps `hello`). One space after the tag is dropped.
//!
//! In both formats trailing `\n`, `\r\n` and NUL bytes are removed first; a
//! missing or NILVALUE timestamp means [`ParseContext::received_ns`]; a
//! missing hostname means [`ParseContext::peer`] when given. **Invalid UTF-8
//! in MSG (and in RFC 3164 fields and PARAM-VALUEs) is replaced with U+FFFD**,
//! never refused.
//!
//! # Mapping to the log model
//!
//! [`SyslogMessage::to_entry`] gives the stream labels and the entry:
//!
//! | syslog field            | becomes                                         |
//! |-------------------------|-------------------------------------------------|
//! | HOSTNAME (or peer)      | label `host`                                    |
//! | APP-NAME / TAG          | label `app`                                     |
//! | PRI facility            | label `facility`: [`Facility::name`] (`kern`, `user`, ..., `local7`) |
//! | PRI severity            | label `level`: [`Severity::level`], Loki's vocabulary (`critical`, `error`, `warn`, `info`, `debug`) |
//! | PRI severity            | metadata `severity`: [`Severity::keyword`] (`emerg` ... `debug`, lossless) |
//! | PROCID / TAG `[pid]`    | metadata `procid`                               |
//! | MSGID                   | metadata `msgid`                                |
//! | SD-PARAM                | metadata `<SD-ID>.<PARAM-NAME>`, e.g. `timeQuality.tzKnown` |
//! | TIMESTAMP (or received) | entry timestamp, Unix ns                        |
//! | MSG                     | entry line                                      |
//!
//! Labels are set only for non-empty values, so `facility` and `level` are
//! always there and `host`/`app` when known. The `level` values are the ones
//! Loki normalises `detected_level` to and Grafana colours: severities 0-2
//! (emergency, alert, critical) are `critical`, 3 `error`, 4 `warn`, 5-6
//! (notice, informational) `info`, 7 `debug`; the exact severity stays in the
//! `severity` metadata.
//!
//! # Transports and limits
//!
//! Over UDP every datagram is one message: pass it to [`parse`] as it is (no
//! framer). Over TCP (RFC 6587) feed the bytes to a [`Framer`], which accepts
//! both octet counting (`123 <PRI>...`) and LF-terminated (non-transparent)
//! framing, detected per frame, and bounds a frame's size. [`parse`] itself
//! puts no limit on the length of MSG; field lengths follow RFC 5424
//! (HOSTNAME 255, APP-NAME 48, PROCID 128, MSGID 32, SD-NAME 32 bytes).
//!
//! This module is pure (no I/O, no clock) and no input makes it panic
//! (fuzzed: `fuzz/fuzz_targets/syslog.rs`).
//!
//! ```
//! use pharos_ingest::syslog::{parse, ParseContext};
//! let ctx = ParseContext::new(1_700_000_000_000_000_000);
//! let m = parse(
//!     b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
//!       [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"] An application event",
//!     &ctx,
//! )
//! .unwrap();
//! let (labels, entry) = m.to_entry();
//! assert_eq!(
//!     labels.to_string(),
//!     r#"{app="evntslog", facility="local4", host="mymachine.example.com", level="info"}"#
//! );
//! assert_eq!(entry.ts, 1_065_910_455_003_000_000);
//! assert_eq!(entry.line, "An application event");
//! assert_eq!(entry.metadata_value("exampleSDID@32473.eventSource"), Some("Application"));
//!
//! let bsd = parse(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed", &ctx).unwrap();
//! assert_eq!(bsd.app_name.as_deref(), Some("su"));
//! assert_eq!(bsd.msg, "'su root' failed");
//! ```

mod error;
mod framing;
mod rfc3164;
mod rfc5424;
mod time;

#[cfg(test)]
mod framing_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use pharos_model::{Labels, LabelsBuilder, LogEntry, LogStream};

pub use error::{ErrorKind, Field, Got, SyslogError};
pub use framing::{Frame, FrameKind, Framer, FramingError, DEFAULT_MAX_FRAME_SIZE};

/// Label holding the hostname.
pub const LABEL_HOST: &str = "host";
/// Label holding APP-NAME (RFC 5424) or the TAG's name (RFC 3164).
pub const LABEL_APP: &str = "app";
/// Label holding the facility's name.
pub const LABEL_FACILITY: &str = "facility";
/// Label holding the severity in Loki's level vocabulary.
pub const LABEL_LEVEL: &str = "level";
/// Metadata key holding the severity's syslog keyword.
pub const META_SEVERITY: &str = "severity";
/// Metadata key holding PROCID (or the TAG's pid).
pub const META_PROCID: &str = "procid";
/// Metadata key holding MSGID.
pub const META_MSGID: &str = "msgid";

/// The priority given to a message without a usable PRI: `user.notice`.
const DEFAULT_PRI: u8 = 13;

/// Which syslog format a message was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RFC 5424, "The Syslog Protocol".
    Rfc5424,
    /// RFC 3164, "The BSD syslog Protocol", and its common variants.
    Rfc3164,
}

impl Format {
    /// `rfc5424` or `rfc3164`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A syslog facility, 0..=23 (PRI / 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Facility(u8);

/// Facility names by code: RFC 5424 table 1's facilities under their usual
/// keywords (`syslog.h`, `logger -p`), 12-15 as FreeBSD and Wikipedia name them.
const FACILITY_NAMES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

impl Facility {
    /// `user`, the facility of a message without PRI.
    pub const USER: Facility = Facility(1);

    /// The facility with this code, if it is one (0..=23).
    pub fn new(code: u8) -> Option<Facility> {
        (usize::from(code) < FACILITY_NAMES.len()).then_some(Facility(code))
    }

    /// The numeric code, 0..=23.
    pub fn code(self) -> u8 {
        self.0
    }

    /// The keyword: `kern`, `user`, `mail`, `daemon`, `auth`, `syslog`, `lpr`,
    /// `news`, `uucp`, `cron`, `authpriv`, `ftp`, `ntp`, `security`, `console`,
    /// `solaris-cron`, `local0` ... `local7`.
    pub fn name(self) -> &'static str {
        FACILITY_NAMES[usize::from(self.0) % FACILITY_NAMES.len()]
    }
}

/// A syslog severity, 0 (emergency) ..= 7 (debug) (PRI % 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Severity(u8);

const SEVERITY_KEYWORDS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];
const SEVERITY_LEVELS: [&str; 8] = [
    "critical", "critical", "critical", "error", "warn", "info", "info", "debug",
];

impl Severity {
    /// `notice`, the severity of a message without PRI.
    pub const NOTICE: Severity = Severity(5);

    /// The severity with this code, if it is one (0..=7).
    pub fn new(code: u8) -> Option<Severity> {
        (code < 8).then_some(Severity(code))
    }

    /// The numeric code, 0..=7.
    pub fn code(self) -> u8 {
        self.0
    }

    /// The syslog keyword (`syslog.h`, `logger -p`): `emerg`, `alert`, `crit`,
    /// `err`, `warning`, `notice`, `info`, `debug`.
    pub fn keyword(self) -> &'static str {
        SEVERITY_KEYWORDS[usize::from(self.0 & 7)]
    }

    /// The level in Loki's vocabulary (what Loki normalises `detected_level`
    /// to, and what Grafana colours): `critical` for emerg, alert and crit;
    /// `error`; `warn`; `info` for notice and info; `debug`.
    pub fn level(self) -> &'static str {
        SEVERITY_LEVELS[usize::from(self.0 & 7)]
    }
}

/// One SD-ELEMENT of RFC 5424 structured data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SdElement {
    /// SD-ID, e.g. `timeQuality` or `exampleSDID@32473`.
    pub id: String,
    /// PARAM-NAME and unescaped PARAM-VALUE pairs in message order.
    pub params: Vec<(String, String)>,
}

/// What the receiver knows besides the message bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseContext {
    /// When the message arrived, Unix ns: its timestamp when it has none.
    pub received_ns: i64,
    /// The year of BSD dates (which have none). `None`: the latest year
    /// around `received_ns` that puts the date at most 31 days after it.
    pub year: Option<i32>,
    /// Offset of the senders' local time east of UTC, in seconds, for BSD
    /// dates and RFC 3339 timestamps without offset. 0 (UTC) by default.
    pub utc_offset_secs: i32,
    /// The sender's address: the hostname of a message without one.
    pub peer: Option<IpAddr>,
}

impl ParseContext {
    /// A context for a message received at `received_ns`, senders in UTC,
    /// peer unknown.
    pub fn new(received_ns: i64) -> ParseContext {
        ParseContext {
            received_ns,
            year: None,
            utc_offset_secs: 0,
            peer: None,
        }
    }

    /// With the sender's address (the hostname of messages without one).
    pub fn with_peer(mut self, peer: IpAddr) -> ParseContext {
        self.peer = Some(peer);
        self
    }

    /// With the senders' local time `secs` east of UTC.
    pub fn with_utc_offset(mut self, secs: i32) -> ParseContext {
        self.utc_offset_secs = secs;
        self
    }

    /// With a fixed year for BSD dates.
    pub fn with_year(mut self, year: i32) -> ParseContext {
        self.year = Some(year);
        self
    }

    fn peer_hostname(&self) -> Option<String> {
        self.peer.map(|ip| ip.to_string())
    }
}

/// A parsed syslog message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogMessage {
    /// The format it was written in.
    pub format: Format,
    pub facility: Facility,
    pub severity: Severity,
    /// The message's own timestamp, Unix ns; `None` when missing or NILVALUE.
    pub timestamp: Option<i64>,
    /// When it was received ([`ParseContext::received_ns`]).
    pub received_ns: i64,
    /// HOSTNAME, or the peer's address when the message has none.
    pub hostname: Option<String>,
    /// APP-NAME, or the TAG's name in RFC 3164.
    pub app_name: Option<String>,
    /// PROCID, or the TAG's `[pid]` in RFC 3164.
    pub proc_id: Option<String>,
    /// MSGID (RFC 5424 only).
    pub msg_id: Option<String>,
    /// STRUCTURED-DATA (RFC 5424 only), elements in message order.
    pub structured_data: Vec<SdElement>,
    /// MSG, without a leading BOM; invalid UTF-8 replaced with U+FFFD.
    pub msg: String,
}

impl SyslogMessage {
    /// The entry's timestamp: the message's own, else when it was received.
    pub fn ts(&self) -> i64 {
        self.timestamp.unwrap_or(self.received_ns)
    }

    /// The stream labels of this message (see the module doc's table):
    /// `facility`, `level`, and `host`/`app` when non-empty.
    pub fn labels(&self) -> Labels {
        let mut b = LabelsBuilder::new();
        b.set(LABEL_FACILITY, self.facility.name());
        b.set(LABEL_LEVEL, self.severity.level());
        if let Some(h) = &self.hostname {
            b.set(LABEL_HOST, h);
        }
        if let Some(a) = &self.app_name {
            b.set(LABEL_APP, a);
        }
        b.build()
    }

    /// The structured metadata: `severity`, `procid`, `msgid`, then every
    /// SD-PARAM as `<SD-ID>.<PARAM-NAME>`, in message order.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let params: usize = self.structured_data.iter().map(|e| e.params.len()).sum();
        let mut md = Vec::with_capacity(3 + params);
        md.push((
            META_SEVERITY.to_string(),
            self.severity.keyword().to_string(),
        ));
        if let Some(p) = &self.proc_id {
            md.push((META_PROCID.to_string(), p.clone()));
        }
        if let Some(m) = &self.msg_id {
            md.push((META_MSGID.to_string(), m.clone()));
        }
        for el in &self.structured_data {
            for (name, value) in &el.params {
                md.push((format!("{}.{}", el.id, name), value.clone()));
            }
        }
        md
    }

    /// The stream labels and the log entry of this message.
    pub fn to_entry(&self) -> (Labels, LogEntry) {
        (
            self.labels(),
            LogEntry {
                ts: self.ts(),
                line: self.msg.as_str().into(),
                metadata: self.metadata(),
            },
        )
    }

    /// As [`to_entry`](Self::to_entry), without copying the line.
    pub fn into_entry(self) -> (Labels, LogEntry) {
        let labels = self.labels();
        let metadata = self.metadata();
        let ts = self.ts();
        (
            labels,
            LogEntry {
                ts,
                line: self.msg.into(),
                metadata,
            },
        )
    }

    /// The message written as RFC 5424 (without framing or trailer), the
    /// timestamp in UTC. Fields that do not fit RFC 5424's grammar (possible
    /// after parsing RFC 3164) are made to: bytes outside `!`..`~` become `_`,
    /// too long values are cut, empty ones are NILVALUE. A message parsed
    /// from RFC 5424 renders to text that parses back to an equal message.
    pub fn to_rfc5424(&self) -> String {
        let mut out = String::with_capacity(64 + self.msg.len());
        let pri = self.facility.code() * 8 + self.severity.code();
        out.push('<');
        out.push_str(&pri.to_string());
        out.push_str(">1 ");
        match self.timestamp {
            Some(ns) => time::format_rfc3339(ns, &mut out),
            None => out.push('-'),
        }
        for (value, max) in [
            (&self.hostname, rfc5424::MAX_HOSTNAME),
            (&self.app_name, rfc5424::MAX_APP_NAME),
            (&self.proc_id, rfc5424::MAX_PROCID),
            (&self.msg_id, rfc5424::MAX_MSGID),
        ] {
            out.push(' ');
            push_header_value(&mut out, value.as_deref(), max);
        }
        out.push(' ');
        if self.structured_data.is_empty() {
            out.push('-');
        }
        for el in &self.structured_data {
            out.push('[');
            push_sd_name(&mut out, &el.id);
            for (name, value) in &el.params {
                out.push(' ');
                push_sd_name(&mut out, name);
                out.push_str("=\"");
                for c in value.chars() {
                    if matches!(c, '"' | '\\' | ']') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            out.push(']');
        }
        if !self.msg.is_empty() {
            out.push(' ');
            // The parser drops one leading BOM: keep a BOM that is part of MSG.
            if self.msg.starts_with('\u{feff}') {
                out.push('\u{feff}');
            }
            out.push_str(&self.msg);
        }
        out
    }
}

fn push_header_value(out: &mut String, value: Option<&str>, max: usize) {
    match value {
        Some(v) if !v.is_empty() && v != "-" => {
            out.extend(v.bytes().take(max).map(printable));
        }
        _ => out.push('-'),
    }
}

fn push_sd_name(out: &mut String, name: &str) {
    if name.is_empty() {
        out.push('_');
    }
    out.extend(name.bytes().take(rfc5424::MAX_SD_NAME).map(|b| match b {
        b'=' | b']' | b'"' => '_',
        b => printable(b),
    }));
}

fn printable(b: u8) -> char {
    if b.is_ascii_graphic() {
        b as char
    } else {
        '_'
    }
}

/// Groups messages into log streams by their labels, streams in order of
/// first appearance and entries in message order.
pub fn to_streams(messages: impl IntoIterator<Item = SyslogMessage>) -> Vec<LogStream> {
    let mut streams: Vec<LogStream> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for m in messages {
        let (labels, entry) = m.into_entry();
        match index.get(&labels) {
            Some(&i) => streams[i].entries.push(entry),
            None => {
                index.insert(labels.clone(), streams.len());
                streams.push(LogStream {
                    labels,
                    entries: vec![entry],
                });
            }
        }
    }
    streams
}

/// Parses one syslog message, RFC 5424 or RFC 3164 (see the module doc for
/// the rules). `msg` is one UDP datagram or one [`Framer`] frame.
pub fn parse(msg: &[u8], ctx: &ParseContext) -> Result<SyslogMessage, SyslogError> {
    let msg = strip_trailer(msg);
    if msg.is_empty() {
        return Err(SyslogError::Empty);
    }
    match pri(msg) {
        Pri::Valid { value, len } => {
            let facility = Facility(value / 8);
            let severity = Severity(value % 8);
            if is_rfc5424_version(&msg[len..]) {
                rfc5424::parse(msg, len + 2, facility, severity, ctx)
            } else {
                rfc3164::parse(msg, len, facility, severity, ctx)
            }
        }
        Pri::OutOfRange { len } if is_rfc5424_version(&msg[len..]) => Err(SyslogError::at(
            Format::Rfc5424,
            1,
            ErrorKind::invalid(Field::Pri, &msg[1..len - 1]),
        )),
        _ => rfc3164::parse(
            msg,
            0,
            Facility(DEFAULT_PRI / 8),
            Severity(DEFAULT_PRI % 8),
            ctx,
        ),
    }
}

/// `msg` without trailing LF, CR and NUL bytes.
fn strip_trailer(msg: &[u8]) -> &[u8] {
    let end = msg
        .iter()
        .rposition(|&b| !matches!(b, b'\n' | b'\r' | 0))
        .map_or(0, |i| i + 1);
    &msg[..end]
}

/// What starts a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pri {
    /// `<n>` with n in 0..=191, `len` bytes long.
    Valid { value: u8, len: usize },
    /// `<n>` with 1 to 3 digits but n > 191.
    OutOfRange { len: usize },
    /// No PRI.
    Missing,
}

fn pri(msg: &[u8]) -> Pri {
    if msg.first() != Some(&b'<') {
        return Pri::Missing;
    }
    let digits = msg[1..]
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=3).contains(&digits) || msg.get(1 + digits) != Some(&b'>') {
        return Pri::Missing;
    }
    let value = msg[1..1 + digits]
        .iter()
        .fold(0u16, |acc, &b| acc * 10 + u16::from(b - b'0'));
    let len = digits + 2;
    match u8::try_from(value) {
        Ok(value) if value <= 191 => Pri::Valid { value, len },
        _ => Pri::OutOfRange { len },
    }
}

/// True when the text after PRI starts with RFC 5424's VERSION `1` and a space.
fn is_rfc5424_version(after_pri: &[u8]) -> bool {
    after_pri.starts_with(b"1 ")
}
