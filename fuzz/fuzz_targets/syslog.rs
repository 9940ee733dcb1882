//! Fuzzes syslog decoding: no input may make `syslog::parse` or the TCP
//! `Framer` panic. The first byte picks the layer and its settings:
//!
//! - even: `parse` one message (bits 1-3 vary the context: peer address,
//!   local offset, fixed year). Accepted messages must map to valid labels,
//!   render as RFC 5424 text that parses again (to the same message when it
//!   was RFC 5424), and errors must point inside the message.
//! - odd: the framer, with a maximum frame size from the first byte and the
//!   stream fed in chunks sized by the second. Frames must be the stream's own
//!   bytes in order, non-empty and within the maximum; the buffer must stay
//!   bounded; and the results must be the same as when the stream is pushed
//!   in one piece.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use pharos_ingest::syslog::{parse, Format, Frame, Framer, FramingError, ParseContext};

/// 2026-11-21T18:17:30Z.
const RECEIVED: i64 = 1_795_285_050_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        fuzz_parse(mode, rest);
    } else if let Some((&chunk, stream)) = rest.split_first() {
        let max = 1 + usize::from(mode >> 1) * 4;
        let chunk = 1 + usize::from(chunk % 64);
        fuzz_framer(max, chunk, stream);
    }
});

fn fuzz_parse(mode: u8, msg: &[u8]) {
    let mut ctx = ParseContext::new(RECEIVED);
    if mode & 2 != 0 {
        ctx = ctx.with_peer(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    }
    if mode & 4 != 0 {
        ctx = ctx.with_utc_offset(-5 * 3600);
    }
    if mode & 8 != 0 {
        ctx = ctx.with_year(2024);
    }
    let m = match parse(msg, &ctx) {
        Ok(m) => m,
        Err(e) => {
            if let Some(offset) = e.offset() {
                assert!(offset <= msg.len(), "{e}");
            }
            return;
        }
    };
    let (labels, entry) = m.to_entry();
    labels
        .validate()
        .expect("labels of a parsed message are valid");
    assert!(labels.has("facility") && labels.has("level"));
    assert_eq!(entry.line, m.msg);
    assert_eq!(entry.ts, m.timestamp.unwrap_or(RECEIVED));

    let rendered = m.to_rfc5424();
    let again = parse(rendered.as_bytes(), &ctx).expect("rendered message parses");
    assert_eq!(again.format, Format::Rfc5424);
    assert_eq!(again.msg, m.msg);
    assert_eq!(again.timestamp, m.timestamp);
    if m.format == Format::Rfc5424 {
        assert_eq!(again, m);
    }
}

/// A framer result, owned.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Frame(u64, Vec<u8>),
    Error(FramingError),
}

fn own(r: Result<Frame<'_>, FramingError>, max: usize, stream: &[u8]) -> Out {
    match r {
        Ok(f) => {
            assert!(!f.data.is_empty() && f.data.len() <= max);
            let start = usize::try_from(f.offset).expect("offset fits");
            assert_eq!(stream.get(start..start + f.data.len()), Some(f.data));
            // Frames go on to the parser: it must not panic either.
            let _ = parse(f.data, &ParseContext::new(RECEIVED));
            Out::Frame(f.offset, f.data.to_vec())
        }
        Err(e) => Out::Error(e),
    }
}

fn run(max: usize, chunk: usize, stream: &[u8]) -> Vec<Out> {
    let mut f = Framer::new(max);
    let mut out = Vec::new();
    for piece in stream.chunks(chunk) {
        f.push(piece);
        while let Some(r) = f.next_frame() {
            out.push(own(r, max, stream));
        }
        assert!(f.buffered() <= max + 12 + piece.len());
        assert!(f.offset() <= stream.len() as u64);
    }
    while let Some(r) = f.finish() {
        out.push(own(r, max, stream));
    }
    assert_eq!(f.buffered(), 0);
    out
}

fn fuzz_framer(max: usize, chunk: usize, stream: &[u8]) {
    let chunked = run(max, chunk, stream);
    let mut last = 0u64;
    for o in &chunked {
        let (start, end) = match o {
            Out::Frame(offset, data) => (*offset, offset + data.len() as u64),
            Out::Error(
                FramingError::FrameTooLarge { offset, .. }
                | FramingError::LineTooLong { offset, .. }
                | FramingError::Truncated { offset, .. },
            ) => (*offset, *offset),
            Out::Error(e) => panic!("unknown framing error {e}"),
        };
        assert!(start >= last, "results out of stream order");
        last = end;
    }
    assert_eq!(chunked, run(max, stream.len().max(1), stream));
}
