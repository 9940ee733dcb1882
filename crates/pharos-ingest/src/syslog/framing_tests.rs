use proptest::prelude::*;

use super::*;

/// A framer result, owned, for comparing runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Frame {
        offset: u64,
        kind: FrameKind,
        data: Vec<u8>,
    },
    Error(FramingError),
}

fn own(r: Result<Frame<'_>, FramingError>) -> Out {
    match r {
        Ok(f) => Out::Frame {
            offset: f.offset,
            kind: f.kind,
            data: f.data.to_vec(),
        },
        Err(e) => Out::Error(e),
    }
}

/// Feeds `chunks` to a framer of `max`, draining after every push and at the
/// end, checking the invariants on the way.
fn run_chunks<'a>(max: usize, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Out> {
    let mut f = Framer::new(max);
    let mut stream = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        stream.extend_from_slice(chunk);
        f.push(chunk);
        while let Some(r) = f.next_frame() {
            out.push(own(r));
        }
        // At most one frame waits: its count, its bytes and the last chunk.
        assert!(
            f.buffered() <= max + 12 + chunk.len(),
            "buffered {} with max {max}",
            f.buffered()
        );
        assert!(f.offset() <= stream.len() as u64);
    }
    while let Some(r) = f.finish() {
        out.push(own(r));
    }
    assert!(f.finish().is_none());
    assert_eq!(f.buffered(), 0);
    check_invariants(&stream, max, &out);
    out
}

fn run(max: usize, stream: &[u8]) -> Vec<Out> {
    run_chunks(max, [stream])
}

/// Frames are the stream's own bytes, in order, within the maximum.
fn check_invariants(stream: &[u8], max: usize, out: &[Out]) {
    let mut last_end = 0u64;
    for o in out {
        match o {
            Out::Frame { offset, data, .. } => {
                assert!(data.len() <= max);
                assert!(!data.is_empty());
                assert!(*offset >= last_end, "{offset} < {last_end}");
                let start = *offset as usize;
                assert_eq!(&stream[start..start + data.len()], &data[..]);
                last_end = offset + data.len() as u64;
            }
            Out::Error(
                FramingError::FrameTooLarge { offset, .. }
                | FramingError::LineTooLong { offset, .. }
                | FramingError::Truncated { offset, .. },
            ) => {
                assert!(*offset >= last_end && *offset < stream.len() as u64);
                last_end = *offset;
            }
        }
    }
}

fn frame(offset: u64, kind: FrameKind, data: &[u8]) -> Out {
    Out::Frame {
        offset,
        kind,
        data: data.to_vec(),
    }
}

use FrameKind::{NonTransparent as Lf, OctetCounted as Oc};

/// `logger --tcp --octet-count` sending two lines read from stdin (captured).
const LOGGER_OCTET: &[u8] = b"99 <13>1 2026-11-21T18:17:28.042538+00:00 vm multi - - [timeQuality tzKnown=\"1\" isSynced=\"0\"] line one99 <13>1 2026-11-21T18:17:28.042620+00:00 vm multi - - [timeQuality tzKnown=\"1\" isSynced=\"0\"] line two";
/// `logger --tcp --rfc3164 --id=99` sending the same (captured).
const LOGGER_LF: &[u8] =
    b"<13>Nov 21 18:17:28 vm multi[99]: line one\n<13>Nov 21 18:17:28 vm multi[99]: line two\n";

/// A stream exercising every path: octet frames, lines with CR LF, empty
/// lines, digits that are not counts, an oversized count, an overlong line,
/// and a tail without LF.
const MIXED: &[u8] = b"11 <13>1 - - -\n\n7 <13>abc<13>line\r\n2023-11-21 started\n12 apples\n40 <13>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx5 <1>ab\r\n<13>this line is much too long for the limit\n<13>ok\n<13>tail";

#[test]
fn logger_octet_counting() {
    let out = run(DEFAULT_MAX_FRAME_SIZE, LOGGER_OCTET);
    assert_eq!(out.len(), 2);
    let Out::Frame { offset, kind, data } = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!((*offset, *kind), (105, Oc));
    assert!(data.starts_with(b"<13>1 2026-11-21T18:17:28.042620+00:00"));
    assert!(data.ends_with(b"line two"));
    for o in &out {
        let Out::Frame { data, .. } = o else {
            panic!("{o:?}")
        };
        let m = parse(data, &ParseContext::new(0)).unwrap();
        assert_eq!(m.app_name.as_deref(), Some("multi"));
    }
}

#[test]
fn logger_lf_framing() {
    let out = run(DEFAULT_MAX_FRAME_SIZE, LOGGER_LF);
    assert_eq!(
        out,
        vec![
            frame(0, Lf, b"<13>Nov 21 18:17:28 vm multi[99]: line one"),
            frame(43, Lf, b"<13>Nov 21 18:17:28 vm multi[99]: line two"),
        ]
    );
}

#[test]
fn mixed_stream() {
    let out = run(20, MIXED);
    assert_eq!(
        out,
        vec![
            frame(3, Oc, b"<13>1 - - -"),
            frame(18, Oc, b"<13>abc"),
            frame(25, Lf, b"<13>line\r"),
            frame(35, Lf, b"2023-11-21 started"),
            frame(54, Lf, b"12 apples"),
            Out::Error(FramingError::FrameTooLarge {
                offset: 64,
                len: 40,
                max: 20
            }),
            frame(109, Oc, b"<1>ab"),
            Out::Error(FramingError::LineTooLong {
                offset: 116,
                max: 20
            }),
            frame(161, Lf, b"<13>ok"),
            frame(168, Lf, b"<13>tail"),
        ]
    );
    // The CR LF left after the octet frame "<1>ab" is an empty line: skipped.
}

#[test]
fn mixed_stream_split_anywhere_gives_the_same_frames() {
    for max in [1, 5, 20, 64] {
        let whole = run(max, MIXED);
        for i in 0..=MIXED.len() {
            assert_eq!(
                run_chunks(max, [&MIXED[..i], &MIXED[i..]]),
                whole,
                "max {max} split {i}"
            );
        }
        assert_eq!(
            run_chunks(max, MIXED.chunks(1)),
            whole,
            "max {max} bytewise"
        );
        for stream in [LOGGER_OCTET, LOGGER_LF] {
            let whole = run(max, stream);
            for i in 0..=stream.len() {
                assert_eq!(run_chunks(max, [&stream[..i], &stream[i..]]), whole);
            }
        }
    }
}

#[test]
fn end_of_stream() {
    // Inside an octet-counted frame.
    assert_eq!(
        run(100, b"5 <13>x<13>y\n10 <13>ab"),
        vec![
            frame(2, Oc, b"<13>x"),
            frame(7, Lf, b"<13>y"),
            Out::Error(FramingError::Truncated {
                offset: 13,
                expected: 10,
                got: 6
            }),
        ]
    );
    // Digits that never became a count are a line; so is "12 " at the end.
    assert_eq!(run(100, b"12"), vec![frame(0, Lf, b"12")]);
    assert_eq!(run(100, b"12 "), vec![frame(0, Lf, b"12 ")]);
    // A lone CR, and nothing at all, give nothing.
    assert_eq!(run(100, b"<13>x\n\r"), vec![frame(0, Lf, b"<13>x")]);
    assert_eq!(run(100, b""), vec![]);
    // A tail longer than the maximum.
    assert_eq!(
        run(3, b"abcd"),
        vec![Out::Error(FramingError::LineTooLong { offset: 0, max: 3 })]
    );
    // Skipping an oversized frame that the stream cuts short.
    assert_eq!(
        run(3, b"9 <13>"),
        vec![Out::Error(FramingError::FrameTooLarge {
            offset: 0,
            len: 9,
            max: 3
        })]
    );
}

#[test]
fn octet_counts() {
    // Leading zero, 11 digits, no space, no '<': lines, not counts.
    for s in [
        &b"05 <13>abcd\n"[..],
        b"12345678901 <x\n",
        b"12<13>\n",
        b"3 abc\n",
    ] {
        let out = run(100, s);
        assert_eq!(out, vec![frame(0, Lf, &s[..s.len() - 1])]);
    }
    // Ten digits are a count.
    assert_eq!(
        run(100, b"9999999999 <13>"),
        vec![Out::Error(FramingError::FrameTooLarge {
            offset: 0,
            len: 9_999_999_999,
            max: 100
        })]
    );
    // A count exactly the maximum.
    assert_eq!(run(5, b"5 <13>x"), vec![frame(2, Oc, b"<13>x")]);
}

#[test]
fn overlong_lines_resynchronise() {
    let mut f = Framer::new(4);
    f.push(b"<1>a");
    assert!(f.next_frame().is_none());
    f.push(b"b");
    assert_eq!(
        f.next_frame().map(own),
        Some(Out::Error(FramingError::LineTooLong { offset: 0, max: 4 }))
    );
    assert!(f.next_frame().is_none());
    // Bytes up to the next LF are dropped as they arrive.
    f.push(b"cdefghijkl");
    assert_eq!(f.buffered(), 0);
    assert!(f.next_frame().is_none());
    f.push(b"m\n<2>");
    assert!(f.next_frame().is_none());
    f.push(b"\n");
    assert_eq!(f.next_frame().map(own), Some(frame(17, Lf, b"<2>")));
    assert_eq!(f.offset(), 21);
    // An oversized octet-counted frame is skipped by its count.
    f.push(b"10 <13>");
    assert!(matches!(
        f.next_frame(),
        Some(Err(FramingError::FrameTooLarge {
            offset: 21,
            len: 10,
            max: 4
        }))
    ));
    f.push(b"123456");
    assert_eq!(f.buffered(), 0);
    f.push(b"3 <1>");
    assert_eq!(f.next_frame().map(own), Some(frame(36, Oc, b"<1>")));
    assert!(f.finish().is_none());
    assert_eq!(f.max_frame_size(), 4);
    assert_eq!(Framer::new(0).max_frame_size(), 1);
    assert_eq!(Framer::default().max_frame_size(), DEFAULT_MAX_FRAME_SIZE);
}

#[test]
fn error_messages() {
    assert_eq!(
        FramingError::FrameTooLarge {
            offset: 64,
            len: 40,
            max: 20
        }
        .to_string(),
        "byte 64: octet-counted frame of 40 bytes is larger than the maximum of 20 bytes; skipped"
    );
    assert_eq!(
        FramingError::LineTooLong { offset: 7, max: 20 }.to_string(),
        "byte 7: line longer than the maximum of 20 bytes; skipped to the next newline"
    );
    assert_eq!(
        FramingError::Truncated {
            offset: 13,
            expected: 10,
            got: 5
        }
        .to_string(),
        "byte 13: stream ended inside an octet-counted frame (5 of 10 bytes)"
    );
}

/// A message as a sender would frame it.
fn framed() -> impl Strategy<Value = (bool, Vec<u8>)> {
    (
        any::<bool>(),
        prop::collection::vec(
            prop_oneof![Just(b'<'), Just(b'\n'), Just(b'1'), Just(b' '), any::<u8>()],
            0..40,
        ),
    )
        .prop_map(|(octet, mut body)| {
            body.insert(0, b'<');
            if !octet {
                body.retain(|&b| b != b'\n');
            }
            (octet, body)
        })
}

fn chunking() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..20, 1..20)
}

fn split<'a>(stream: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        chunks.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    chunks
}

proptest! {
    /// Arbitrary bytes in arbitrary chunks: the invariants hold and the
    /// result does not depend on the chunking.
    #[test]
    fn arbitrary_streams(
        stream in prop::collection::vec(
            prop_oneof![Just(b'\n'), Just(b' '), Just(b'<'), (b'0'..=b'9'), any::<u8>()],
            0..200,
        ),
        sizes in chunking(),
        max in 1usize..40,
    ) {
        let whole = run(max, &stream);
        prop_assert_eq!(run_chunks(max, split(&stream, &sizes)), whole);
    }

    /// Messages framed either way come back out as they went in.
    #[test]
    fn framed_messages_round_trip(msgs in prop::collection::vec(framed(), 0..8), sizes in chunking()) {
        let mut stream = Vec::new();
        for (octet, body) in &msgs {
            if *octet {
                stream.extend_from_slice(format!("{} ", body.len()).as_bytes());
                stream.extend_from_slice(body);
            } else {
                stream.extend_from_slice(body);
                stream.push(b'\n');
            }
        }
        let out = run_chunks(DEFAULT_MAX_FRAME_SIZE, split(&stream, &sizes));
        let got: Vec<(bool, Vec<u8>)> = out
            .into_iter()
            .map(|o| match o {
                Out::Frame { kind, data, .. } => (kind == Oc, data),
                Out::Error(e) => panic!("{e}"),
            })
            .collect();
        prop_assert_eq!(got, msgs);
    }
}
