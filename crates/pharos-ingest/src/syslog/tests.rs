use std::net::{IpAddr, Ipv4Addr};

use pharos_model::Labels;
use proptest::prelude::*;

use super::time::DateTime;
use super::*;

/// 2026-11-21T18:17:30Z, when the `logger` lines below were captured.
const RECEIVED: i64 = 1_795_285_050_000_000_000;

fn ctx() -> ParseContext {
    ParseContext::new(RECEIVED)
}

fn p(msg: &[u8]) -> SyslogMessage {
    match parse(msg, &ctx()) {
        Ok(m) => m,
        Err(e) => panic!("{}: {e}", String::from_utf8_lossy(msg)),
    }
}

fn perr(msg: &[u8]) -> String {
    match parse(msg, &ctx()) {
        Ok(m) => panic!("{}: parsed as {m:?}", String::from_utf8_lossy(msg)),
        Err(e) => e.to_string(),
    }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn sd(id: &str, params: &[(&str, &str)]) -> SdElement {
    SdElement {
        id: id.into(),
        params: params
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
}

fn msg5424() -> SyslogMessage {
    SyslogMessage {
        format: Format::Rfc5424,
        facility: Facility::USER,
        severity: Severity::NOTICE,
        timestamp: None,
        received_ns: RECEIVED,
        hostname: None,
        app_name: None,
        proc_id: None,
        msg_id: None,
        structured_data: vec![],
        msg: String::new(),
    }
}

fn msg3164() -> SyslogMessage {
    SyslogMessage {
        format: Format::Rfc3164,
        ..msg5424()
    }
}

fn pri(code: u8) -> (Facility, Severity) {
    (
        Facility::new(code / 8).unwrap(),
        Severity::new(code % 8).unwrap(),
    )
}

// ---- RFC 5424 ----

#[test]
fn rfc5424_section_6_5_examples() {
    // Example 1: no STRUCTURED-DATA, BOM before MSG.
    let m = p(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8");
    let (facility, severity) = pri(34);
    assert_eq!(
        m,
        SyslogMessage {
            facility,
            severity,
            timestamp: Some(1_065_910_455_003_000_000),
            hostname: s("mymachine.example.com"),
            app_name: s("su"),
            msg_id: s("ID47"),
            msg: "'su root' failed for lonvick on /dev/pts/8".into(),
            ..msg5424()
        }
    );
    assert_eq!((facility.name(), severity.keyword()), ("auth", "crit"));

    // Example 2: an offset, microseconds, PROCID, no MSGID.
    let m = p(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.");
    let (facility, severity) = pri(165);
    assert_eq!(
        m,
        SyslogMessage {
            facility,
            severity,
            timestamp: Some(1_061_727_255_000_003_000),
            hostname: s("192.0.2.1"),
            app_name: s("myproc"),
            proc_id: s("8710"),
            msg: "%% It's time to make the do-nuts.".into(),
            ..msg5424()
        }
    );

    // Example 3: structured data and MSG.
    let m = p(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \xef\xbb\xbfAn application event log entry...");
    let example_sd = sd(
        "exampleSDID@32473",
        &[
            ("iut", "3"),
            ("eventSource", "Application"),
            ("eventID", "1011"),
        ],
    );
    assert_eq!(
        m,
        SyslogMessage {
            facility,
            severity,
            timestamp: Some(1_065_910_455_003_000_000),
            hostname: s("mymachine.example.com"),
            app_name: s("evntslog"),
            msg_id: s("ID47"),
            structured_data: vec![example_sd.clone()],
            msg: "An application event log entry...".into(),
            ..msg5424()
        }
    );

    // Example 4: two SD-ELEMENTs and no MSG.
    let m = p(b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]");
    assert_eq!(
        m.structured_data,
        vec![
            example_sd,
            sd("examplePriority@32473", &[("class", "high")])
        ]
    );
    assert_eq!(m.msg, "");
}

/// Bytes captured from util-linux 2.38.1 `logger` sending to a local TCP/UDP
/// listener (`-n 127.0.0.1 -P port -t myapp -p local3.warning 'hello world'`).
#[test]
fn logger_rfc5424_default() {
    // --tcp: non-transparent framing, LF trailer.
    let m = p(b"<156>1 2026-11-21T18:17:08.957021+00:00 vm myapp - - [timeQuality tzKnown=\"1\" isSynced=\"0\"] hello world\n");
    let (facility, severity) = pri(156);
    assert_eq!(
        m,
        SyslogMessage {
            facility,
            severity,
            timestamp: Some(1_795_285_028_957_021_000),
            hostname: s("vm"),
            app_name: s("myapp"),
            structured_data: vec![sd("timeQuality", &[("tzKnown", "1"), ("isSynced", "0")])],
            msg: "hello world".into(),
            ..msg5424()
        }
    );
    let (labels, entry) = m.to_entry();
    assert_eq!(
        labels.to_string(),
        r#"{app="myapp", facility="local3", host="vm", level="warn"}"#
    );
    assert_eq!(entry.ts, 1_795_285_028_957_021_000);
    assert_eq!(entry.line, "hello world");
    assert_eq!(
        entry.metadata,
        vec![
            ("severity".to_string(), "warning".to_string()),
            ("timeQuality.tzKnown".to_string(), "1".to_string()),
            ("timeQuality.isSynced".to_string(), "0".to_string()),
        ]
    );

    // --rfc5424=notime,notq over UDP: NILVALUE timestamp and no SD.
    let m = p(b"<156>1 - vm myapp - - - hello world");
    assert_eq!(m.timestamp, None);
    assert_eq!(m.to_entry().1.ts, RECEIVED);
    assert!(m.structured_data.is_empty());
    assert_eq!(m.msg, "hello world");
}

#[test]
fn logger_rfc5424_with_procid_msgid_and_escapes() {
    // --octet-count --sd-id zoo@123 --sd-param 'tiger="hungry \"cat\" [x\]"'
    // --msgid ID47 --id=4242 -p auth.err 'first' (the frame, count removed).
    let m = p(br#"<35>1 2026-11-21T18:17:27.519639+00:00 vm myapp 4242 ID47 [timeQuality tzKnown="1" isSynced="0"][zoo@123 tiger="hungry \"cat\" [x\]"] first"#);
    assert_eq!(m.proc_id.as_deref(), Some("4242"));
    assert_eq!(m.msg_id.as_deref(), Some("ID47"));
    assert_eq!(
        m.structured_data[1],
        sd("zoo@123", &[("tiger", r#"hungry "cat" [x]"#)])
    );
    let (labels, entry) = m.to_entry();
    assert_eq!(
        labels,
        Labels::from_pairs(&[
            ("app", "myapp"),
            ("facility", "auth"),
            ("host", "vm"),
            ("level", "error"),
        ])
    );
    assert_eq!(entry.metadata_value("severity"), Some("err"));
    assert_eq!(entry.metadata_value("procid"), Some("4242"));
    assert_eq!(entry.metadata_value("msgid"), Some("ID47"));
    assert_eq!(
        entry.metadata_value("zoo@123.tiger"),
        Some(r#"hungry "cat" [x]"#)
    );
}

#[test]
fn rfc5424_param_value_escapes() {
    let m = p(br#"<13>1 - - - - - [id a="\"q\" \\ \] \n x" b="" c="a]b"]"#);
    assert_eq!(
        m.structured_data,
        vec![sd(
            "id",
            &[("a", r#""q" \ ] \n x"#), ("b", ""), ("c", "a]b")]
        )]
    );
    // An element without params, and a backslash ending the value's text.
    let m = p(br#"<13>1 - - - - - [a][b x="\\"] m"#);
    assert_eq!(
        m.structured_data,
        vec![sd("a", &[]), sd("b", &[("x", "\\")])]
    );
    assert_eq!(m.msg, "m");
}

#[test]
fn rfc5424_msg_details() {
    // Only the first BOM goes; invalid UTF-8 is replaced; spaces are kept.
    let m = p(b"<13>1 - - - - - - \xef\xbb\xbf\xef\xbb\xbfcaf\xe9  x ");
    assert_eq!(m.msg, "\u{feff}caf\u{fffd}  x ");
    // Trailing CR LF and NULs go.
    assert_eq!(p(b"<13>1 - - - - - - x\r\n").msg, "x");
    assert_eq!(p(b"<13>1 - - - - - - x\0").msg, "x");
    // SP then nothing: empty MSG.
    assert_eq!(p(b"<13>1 - - - - - - ").msg, "");
    // No hostname: the peer's address.
    let c = ctx().with_peer(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    let m = parse(b"<13>1 - - app - - - x", &c).unwrap();
    assert_eq!(m.hostname.as_deref(), Some("192.0.2.7"));
    let m = parse(b"<13>1 - h app - - - x", &c).unwrap();
    assert_eq!(m.hostname.as_deref(), Some("h"));
    // A timestamp without offset is in the senders' local time.
    let c = ctx().with_utc_offset(3600);
    let m = parse(b"<13>1 2026-11-21T19:17:10 h - - - -", &c).unwrap();
    assert_eq!(m.timestamp, Some(1_795_285_030_000_000_000));
    // Field length limits are the RFC's.
    let app48 = format!("<13>1 - h {} - - -", "a".repeat(48));
    assert_eq!(p(app48.as_bytes()).app_name.unwrap().len(), 48);
}

#[test]
fn rfc5424_errors_name_field_and_byte() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"<13>1 2023-13-01T00:00:00Z host app - - - msg",
            r#"rfc5424: byte 6: invalid TIMESTAMP "2023-13-01T00:00:00Z""#,
        ),
        (
            b"<13>1 2003-10-11T22:14:60Z h a - - -",
            r#"rfc5424: byte 6: invalid TIMESTAMP "2003-10-11T22:14:60Z""#,
        ),
        (
            b"<13>1  h a - - -",
            r#"rfc5424: byte 6: invalid TIMESTAMP """#,
        ),
        (
            b"<999>1 - - - - - -",
            r#"rfc5424: byte 1: invalid PRI "999""#,
        ),
        (
            b"<13>1 - host app - -",
            "rfc5424: byte 20: expected SP after MSGID, got end of message",
        ),
        (
            b"<13>1 - ho\x01st a - - -",
            r#"rfc5424: byte 10: invalid HOSTNAME "ho\u{1}st""#,
        ),
        (
            b"<13>1 - h\xc3\xa9 a - - -",
            r#"rfc5424: byte 9: invalid HOSTNAME "hé""#,
        ),
        (
            b"<13>1 - h a - - x",
            "rfc5424: byte 16: expected '[' or '-' starting STRUCTURED-DATA, got 'x'",
        ),
        (
            b"<13>1 - h a - - -x",
            "rfc5424: byte 17: expected SP or end of message after STRUCTURED-DATA, got 'x'",
        ),
        (
            br#"<13>1 - h a - - [id a="b] msg"#,
            "rfc5424: byte 29: expected '\"' closing PARAM-VALUE, got end of message",
        ),
        (
            br#"<13>1 - h a - - [id a="b"x]"#,
            "rfc5424: byte 25: expected SP or ']' in SD-ELEMENT, got 'x'",
        ),
        (
            br#"<13>1 - h a - - [id a]"#,
            "rfc5424: byte 21: expected '=' after PARAM-NAME, got ']'",
        ),
        (
            br#"<13>1 - h a - - [id a=b]"#,
            "rfc5424: byte 22: expected '\"' opening PARAM-VALUE, got 'b'",
        ),
        (
            br#"<13>1 - h a - - [ a="b"]"#,
            r#"rfc5424: byte 17: invalid SD-ID """#,
        ),
        (
            br#"<13>1 - h a - - [id  a="b"]"#,
            r#"rfc5424: byte 20: invalid PARAM-NAME """#,
        ),
        (
            b"<13>1 - h a - - [id",
            "rfc5424: byte 19: expected SP or ']' in SD-ELEMENT, got end of message",
        ),
        (
            b"<13>1 - h a - - [id\ta=\"b\"]",
            "rfc5424: byte 19: expected SP or ']' in SD-ELEMENT, got byte 0x09",
        ),
    ];
    for (msg, want) in cases {
        assert_eq!(&perr(msg), want, "{}", String::from_utf8_lossy(msg));
    }
    let long = format!("<13>1 - h {} - - -", "a".repeat(49));
    assert_eq!(
        perr(long.as_bytes()),
        "rfc5424: byte 10: APP-NAME longer than 48 bytes"
    );
    let long = format!("<13>1 - h - - - [{} a=\"b\"]", "i".repeat(33));
    assert_eq!(
        perr(long.as_bytes()),
        "rfc5424: byte 17: SD-ID longer than 32 bytes"
    );
    let e = parse(b"<13>1 - h a - - [id", &ctx()).unwrap_err();
    assert_eq!(e.offset(), Some(19));
    assert!(matches!(
        e,
        SyslogError::Invalid {
            format: Format::Rfc5424,
            kind: ErrorKind::Unexpected { got: Got::End, .. },
            ..
        }
    ));
}

#[test]
fn empty_messages() {
    for m in [&b""[..], b"\n", b"\r\n", b"\0\0", b"\r\n\0"] {
        assert_eq!(parse(m, &ctx()), Err(SyslogError::Empty));
    }
    assert_eq!(SyslogError::Empty.to_string(), "empty message");
    assert_eq!(SyslogError::Empty.offset(), None);
}

// ---- RFC 3164 ----

#[test]
fn rfc3164_section_5_4_examples() {
    // Example 1.
    let m = p(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
    let (facility, severity) = pri(34);
    assert_eq!(
        m,
        SyslogMessage {
            facility,
            severity,
            timestamp: Some(1_791_756_855_000_000_000), // 2026-10-11T22:14:15Z
            hostname: s("mymachine"),
            app_name: s("su"),
            msg: "'su root' failed for lonvick on /dev/pts/8".into(),
            ..msg3164()
        }
    );

    // Example 2: no PRI at all: user.notice, received time, all message.
    let m = p(b"Use the BFG!");
    assert_eq!(
        m,
        SyslogMessage {
            msg: "Use the BFG!".into(),
            ..msg3164()
        }
    );
    assert_eq!(m.to_entry().1.ts, RECEIVED);

    // Example 3: "CST 1987" after the date defeats every parser; we take
    // CST for the host and keep the rest as message.
    let m = p(b"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jave=OK, Cold=NO");
    assert_eq!(m.timestamp, Some(1_787_549_640_000_000_000)); // 2026-08-24T05:34:00Z
    assert_eq!(m.hostname.as_deref(), Some("CST"));
    assert_eq!(m.app_name, None);
    assert!(m.msg.starts_with("1987 mymachine myproc[10]: %%"));

    // Example 4: not a BSD date: everything after PRI is message.
    let m = p(b"<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!");
    assert_eq!((m.facility.name(), m.severity.keyword()), ("kern", "emerg"));
    assert_eq!(m.timestamp, None);
    assert_eq!(m.hostname, None);
    assert_eq!(
        m.msg,
        "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!"
    );

    // Example 5: space-padded day, an address for host, no TAG.
    let m = p(b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!");
    assert_eq!(
        m,
        SyslogMessage {
            timestamp: Some(1_770_312_738_000_000_000), // 2026-02-05T17:32:18Z
            hostname: s("10.0.0.99"),
            msg: "Use the BFG!".into(),
            ..msg3164()
        }
    );
}

#[test]
fn logger_rfc3164() {
    // logger --rfc3164 over TCP and UDP.
    let m = p(b"<156>Nov 21 18:17:10 vm myapp: hello world\n");
    let (facility, severity) = pri(156);
    assert_eq!(
        m,
        SyslogMessage {
            facility,
            severity,
            timestamp: Some(1_795_285_030_000_000_000),
            hostname: s("vm"),
            app_name: s("myapp"),
            msg: "hello world".into(),
            ..msg3164()
        }
    );
    // With --id=99, lines from stdin.
    let m = p(b"<13>Nov 21 18:17:28 vm multi[99]: line one");
    assert_eq!(
        (m.app_name.as_deref(), m.proc_id.as_deref(), m.msg.as_str()),
        (Some("multi"), Some("99"), "line one")
    );
    let (labels, entry) = m.to_entry();
    assert_eq!(
        labels.to_string(),
        r#"{app="multi", facility="user", host="vm", level="info"}"#
    );
    assert_eq!(
        entry.metadata,
        vec![
            ("severity".to_string(), "notice".to_string()),
            ("procid".to_string(), "99".to_string()),
        ]
    );
}

#[test]
fn rfc3164_real_world_variants() {
    // The local socket format: no hostname; the peer stands in.
    let c = ctx().with_peer(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    let m = parse(
        b"<30>Nov 21 18:17:10 systemd[1]: Started Session 3 of user root.",
        &c,
    )
    .unwrap();
    assert_eq!(m.hostname.as_deref(), Some("192.0.2.7"));
    assert_eq!(m.app_name.as_deref(), Some("systemd"));
    assert_eq!(m.proc_id.as_deref(), Some("1"));
    assert_eq!(m.msg, "Started Session 3 of user root.");
    assert_eq!((m.facility.name(), m.severity.level()), ("daemon", "info"));
    // Without a peer there is no host label.
    let m = p(b"<30>Nov 21 18:17:10 systemd[1]: Started.");
    assert_eq!(m.hostname, None);
    assert!(!m.labels().has("host"));

    // rsyslog's RSYSLOG_ForwardFormat: an RFC 3339 timestamp.
    let m = p(b"<30>2023-11-21T18:17:10.123456+01:00 vm systemd[1]: Started foo.");
    assert_eq!(m.timestamp, Some(1_700_587_030_123_456_000));
    assert_eq!(m.hostname.as_deref(), Some("vm"));
    assert_eq!(m.app_name.as_deref(), Some("systemd"));
    assert_eq!(m.msg, "Started foo.");

    // The kernel.
    let m = p(b"<6>Nov 21 18:17:10 vm kernel: [12345.678] eth0: link up");
    assert_eq!(
        (m.facility.name(), m.app_name.as_deref()),
        ("kern", Some("kernel"))
    );
    assert_eq!(m.msg, "[12345.678] eth0: link up");

    // A year before the time (Cisco), and a tag with unusual characters.
    let m = p(b"<189>Nov 21 2025 18:17:10 router1 %LINK-3-UPDOWN: Interface up");
    assert_eq!(
        m.timestamp,
        Some(1_795_285_030_000_000_000 - 365 * 86_400 * 1_000_000_000)
    );
    assert_eq!(m.hostname.as_deref(), Some("router1"));
    assert_eq!(m.app_name.as_deref(), Some("%LINK-3-UPDOWN"));
    assert_eq!(
        (m.facility.name(), m.severity.keyword()),
        ("local7", "notice")
    );

    // No PRI, but the rest of a BSD line.
    let m = p(b"Nov 21 18:17:10 vm myapp: hello");
    assert_eq!((m.facility, m.severity), (Facility::USER, Severity::NOTICE));
    assert_eq!(m.hostname.as_deref(), Some("vm"));
    assert_eq!(m.app_name.as_deref(), Some("myapp"));
    assert_eq!(m.msg, "hello");

    // An unusable PRI: user.notice and the whole line as message.
    let m = p(b"<999>Nov 21 18:17:10 vm myapp: hello");
    assert_eq!((m.facility, m.severity), (Facility::USER, Severity::NOTICE));
    assert_eq!(m.timestamp, None);
    assert_eq!(m.msg, "<999>Nov 21 18:17:10 vm myapp: hello");

    // No timestamp: a TAG but no hostname.
    let m = p(b"<13>myapp: hello");
    assert_eq!((m.hostname, m.app_name.as_deref()), (None, Some("myapp")));
    assert_eq!(m.msg, "hello");

    // A first word that is not a TAG stays in the message.
    let m = p(b"<13>Nov 21 18:17:10 vm hello world");
    assert_eq!(
        (m.hostname.as_deref(), m.app_name.as_deref()),
        (Some("vm"), None)
    );
    assert_eq!(m.msg, "hello world");

    // Fraction of seconds, unpadded day, extra spaces, RFC 3339 without offset.
    let c = ctx().with_utc_offset(3600);
    let m = parse(b"<13>Nov 21 19:17:10.5  vm  app: x", &c).unwrap();
    assert_eq!(m.timestamp, Some(1_795_285_030_500_000_000));
    assert_eq!(
        (m.hostname.as_deref(), m.app_name.as_deref()),
        (Some("vm"), Some("app"))
    );
    let m = parse(b"<13>2026-11-21T19:17:10 vm app: x", &c).unwrap();
    assert_eq!(m.timestamp, Some(1_795_285_030_000_000_000));

    // A fixed year.
    let m = parse(b"<13>Nov 21 18:17:10 vm app: x", &ctx().with_year(2020)).unwrap();
    assert_eq!(DateTime::from_unix_ns(m.timestamp.unwrap()).year, 2020);

    // Only a date and a host.
    let m = p(b"<13>Nov 21 18:17:10 vm");
    assert_eq!((m.hostname.as_deref(), m.msg.as_str()), (Some("vm"), ""));

    // VERSION other than 1 is not RFC 5424.
    let m = p(b"<13>2 hello");
    assert_eq!((m.format, m.msg.as_str()), (Format::Rfc3164, "2 hello"));

    // Invalid UTF-8 and trailers.
    let m = p(b"<13>Nov 21 18:17:10 vm app: caf\xe9\r\n\0");
    assert_eq!(m.msg, "caf\u{fffd}");
}

#[test]
fn rfc3164_errors() {
    assert_eq!(
        perr(b"<13>Feb 30 10:00:00 host app: x"),
        r#"rfc3164: byte 4: invalid TIMESTAMP "Feb 30 10:00:00""#
    );
    assert_eq!(
        perr(b"Nov 21 24:00:00 host app: x"),
        r#"rfc3164: byte 0: invalid TIMESTAMP "Nov 21 24:00:00""#
    );
    assert_eq!(
        perr(b"<13>2023-02-30T10:00:00Z host x"),
        r#"rfc3164: byte 4: invalid TIMESTAMP "2023-02-30T10:00:00Z""#
    );
    // Feb 29 with no leap year among 2025..2027.
    assert_eq!(
        perr(b"<13>Feb 29 10:00:00 host x"),
        r#"rfc3164: byte 4: invalid TIMESTAMP "Feb 29 10:00:00""#
    );
}

// ---- mapping ----

#[test]
fn facility_and_severity_names() {
    let names: Vec<&str> = (0..24).map(|c| Facility::new(c).unwrap().name()).collect();
    assert_eq!(
        names,
        [
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
            "local7"
        ]
    );
    assert_eq!(Facility::new(24), None);
    let sev: Vec<(&str, &str)> = (0..8)
        .map(|c| {
            let s = Severity::new(c).unwrap();
            (s.keyword(), s.level())
        })
        .collect();
    assert_eq!(
        sev,
        [
            ("emerg", "critical"),
            ("alert", "critical"),
            ("crit", "critical"),
            ("err", "error"),
            ("warning", "warn"),
            ("notice", "info"),
            ("info", "info"),
            ("debug", "debug"),
        ]
    );
    assert_eq!(Severity::new(8), None);
    // Every PRI maps to valid labels.
    for code in 0..=191u8 {
        let m = p(format!("<{code}>1 - - - - - -").as_bytes());
        assert_eq!(m.facility.code() * 8 + m.severity.code(), code);
        m.labels().validate().unwrap();
    }
}

#[test]
fn streams_group_by_labels() {
    let msgs = [
        &b"<13>Nov 21 18:17:10 vm a: one"[..],
        b"<13>Nov 21 18:17:11 vm b: two",
        b"<13>Nov 21 18:17:12 vm a: three",
    ]
    .map(p);
    let streams = to_streams(msgs.clone());
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[0].labels, msgs[0].labels());
    let lines: Vec<&str> = streams[0].entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["one", "three"]);
    assert_eq!(streams[1].entries[0].line, "two");
    assert_eq!(msgs[1].clone().into_entry(), msgs[1].to_entry());
}

#[test]
fn to_rfc5424_renders_and_sanitises() {
    let m = p(
        br#"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - [a b="\]\"\\"] msg"#,
    );
    assert_eq!(
        m.to_rfc5424(),
        r#"<165>1 2003-08-24T12:14:15.000003Z 192.0.2.1 myproc 8710 - [a b="\]\"\\"] msg"#
    );
    assert_eq!(parse(m.to_rfc5424().as_bytes(), &ctx()).unwrap(), m);
    // From RFC 3164, with fields RFC 5424 cannot hold as they are.
    let m = SyslogMessage {
        hostname: s("h st"),
        app_name: Some("a".repeat(60)),
        proc_id: s(""),
        msg: "\u{feff}x".into(),
        ..msg3164()
    };
    let text = m.to_rfc5424();
    assert_eq!(
        text,
        format!("<13>1 - h_st {} - - - \u{feff}\u{feff}x", "a".repeat(48))
    );
    let back = parse(text.as_bytes(), &ctx()).unwrap();
    assert_eq!(back.msg, m.msg);
}

// ---- properties ----

fn header_value(max: usize) -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::string::string_regex(&format!("[!-~]{{1,{max}}}"))
            .unwrap()
            .prop_filter("NILVALUE", |v| v != "-"),
    )
}

fn sd_name() -> impl Strategy<Value = String> {
    prop::string::string_regex(r#"[!#-<>-\\^-~]{1,32}"#).unwrap()
}

fn sd_elements() -> impl Strategy<Value = Vec<SdElement>> {
    prop::collection::vec(
        (
            sd_name(),
            prop::collection::vec((sd_name(), any::<String>()), 0..4),
        )
            .prop_map(|(id, params)| SdElement { id, params }),
        0..3,
    )
}

fn escape_param(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(m) = parse(&b, &ctx()) {
            let (labels, _) = m.to_entry();
            prop_assert!(labels.validate().is_ok());
        }
    }

    #[test]
    fn syslog_like_text_never_panics(
        t in r"(<[0-9]{1,3}>)?(1 )?([A-Za-z]{3} [ 0-9]{1,2} [0-9:.]{0,12} )?[ -~\[\]]{0,60}",
    ) {
        let c = ctx().with_peer(IpAddr::V4(Ipv4Addr::LOCALHOST));
        if let Ok(m) = parse(t.as_bytes(), &c) {
            let (labels, _) = m.to_entry();
            prop_assert!(labels.validate().is_ok());
            if m.format == Format::Rfc5424 {
                prop_assert_eq!(parse(m.to_rfc5424().as_bytes(), &c).unwrap(), m);
            }
        }
    }

    /// RFC 5424 text written field by field parses back to those fields.
    #[test]
    fn rfc5424_round_trip(
        code in 0u8..192,
        ts in prop::option::of((-9_000_000_000i64..9_000_000_000, 0u32..1_000_000_000)),
        frac_digits in 0usize..10,
        offset_min in -1439i32..1440,
        hostname in header_value(255),
        app_name in header_value(48),
        proc_id in header_value(128),
        msg_id in header_value(32),
        structured_data in sd_elements(),
        msg in any::<String>(),
        bom in any::<bool>(),
    ) {
        // Timestamps with 0..=9 fractional digits and any offset.
        let timestamp = ts.map(|(secs, nanos)| {
            let keep = 10u32.pow(9 - frac_digits as u32);
            secs * 1_000_000_000 + i64::from(nanos / keep * keep)
        });
        let mut text = format!("<{code}>1 ");
        match timestamp {
            None => text.push('-'),
            Some(ns) => {
                let local = DateTime::from_unix_ns(ns + i64::from(offset_min) * 60_000_000_000);
                text.push_str(&format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    local.year, local.month, local.day, local.hour, local.minute, local.second
                ));
                if frac_digits > 0 {
                    let f = format!("{:09}", local.nanos);
                    text.push('.');
                    text.push_str(&f[..frac_digits]);
                }
                let (sign, abs) = if offset_min < 0 { ('-', -offset_min) } else { ('+', offset_min) };
                text.push_str(&format!("{sign}{:02}:{:02}", abs / 60, abs % 60));
            }
        }
        for v in [&hostname, &app_name, &proc_id, &msg_id] {
            text.push(' ');
            text.push_str(v.as_deref().unwrap_or("-"));
        }
        text.push(' ');
        if structured_data.is_empty() {
            text.push('-');
        }
        for el in &structured_data {
            text.push('[');
            text.push_str(&el.id);
            for (n, v) in &el.params {
                text.push_str(&format!(" {n}=\"{}\"", escape_param(v)));
            }
            text.push(']');
        }
        let msg = msg.trim_end_matches(['\n', '\r', '\0']).trim_start_matches('\u{feff}').to_string();
        if !msg.is_empty() || bom {
            text.push(' ');
            if bom {
                text.push('\u{feff}');
            }
            text.push_str(&msg);
        }
        let (facility, severity) = pri(code);
        let want = SyslogMessage {
            facility,
            severity,
            timestamp,
            hostname,
            app_name,
            proc_id,
            msg_id,
            structured_data,
            msg,
            ..msg5424()
        };
        let got = parse(text.as_bytes(), &ctx()).unwrap();
        prop_assert_eq!(&got, &want, "{}", text);
        prop_assert_eq!(parse(got.to_rfc5424().as_bytes(), &ctx()).unwrap(), want);
    }

    /// BSD text written field by field parses back to those fields.
    #[test]
    fn rfc3164_round_trip(
        code in 0u8..192,
        (month, day) in (1u32..=12, 1u32..=28),
        (hour, minute, second) in (0u32..24, 0u32..60, 0u32..60),
        year in 1971i32..2200,
        (hostname, tag, msg) in (
            prop::option::of("[a-z][a-z0-9.-]{0,20}"),
            prop::option::of(("[a-zA-Z][a-zA-Z0-9_/.-]{0,20}", prop::option::of(0u32..100_000))),
            "([!-~][ -~]{0,60})?",
        ).prop_filter("ambiguous without HOSTNAME or TAG", |(h, t, m)| {
            // Without a TAG, the message's first word must not look like one;
            // without a HOSTNAME, a TAG must follow the date.
            let first = m.split(' ').next().unwrap_or("");
            (h.is_some() || t.is_some()) && (t.is_some() || !(first.ends_with(':') || first.contains('[')))
        }),
    ) {
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let mut text = format!("<{code}>{} {day:>2} {hour:02}:{minute:02}:{second:02} ", MONTHS[month as usize - 1]);
        if let Some(h) = &hostname {
            text.push_str(h);
            text.push(' ');
        }
        if let Some((name, pid)) = &tag {
            text.push_str(name);
            if let Some(pid) = pid {
                text.push_str(&format!("[{pid}]"));
            }
            text.push_str(": ");
        }
        text.push_str(&msg);
        let (facility, severity) = pri(code);
        let dt = DateTime { year: i64::from(year), month, day, hour, minute, second, nanos: 0 };
        let want = SyslogMessage {
            facility,
            severity,
            timestamp: dt.to_unix_ns(0),
            hostname,
            app_name: tag.as_ref().map(|t| t.0.clone()),
            proc_id: tag.as_ref().and_then(|t| t.1.map(|p| p.to_string())),
            msg,
            ..msg3164()
        };
        let got = parse(text.as_bytes(), &ctx().with_year(year)).unwrap();
        prop_assert_eq!(got, want, "{}", text);
    }
}
