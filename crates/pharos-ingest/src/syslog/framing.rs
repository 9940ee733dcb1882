//! Syslog over TCP (RFC 6587): cutting a byte stream into messages. The
//! rules are on [`Framer`].

/// The default largest frame, in bytes (64 KiB; rsyslog's default is 8 KiB,
/// RFC 5424 asks receivers to take at least 2 KiB).
pub const DEFAULT_MAX_FRAME_SIZE: usize = 64 * 1024;

/// Most digits of an octet count (up to 9,999,999,999 bytes).
const MAX_COUNT_DIGITS: usize = 10;

/// How a frame was delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// `MSG-LEN SP SYSLOG-MSG` (RFC 6587 §3.4.1).
    OctetCounted,
    /// The message, then LF (RFC 6587 §3.4.2).
    NonTransparent,
}

/// One message cut from the stream, borrowed from the framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Offset in the stream of `data`'s first byte (after any octet count).
    pub offset: u64,
    pub kind: FrameKind,
    /// The message, without octet count or trailing LF.
    pub data: &'a [u8],
}

/// Why bytes of the stream were not made into a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// An octet count above the maximum; the frame's bytes are skipped.
    /// `offset` is where the count starts.
    #[error("byte {offset}: octet-counted frame of {len} bytes is larger than the maximum of {max} bytes; skipped")]
    FrameTooLarge { offset: u64, len: u64, max: usize },
    /// A line longer than the maximum; skipped up to and including the next
    /// LF. `offset` is where the line starts.
    #[error(
        "byte {offset}: line longer than the maximum of {max} bytes; skipped to the next newline"
    )]
    LineTooLong { offset: u64, max: usize },
    /// The stream ended inside an octet-counted frame. `offset` is where the
    /// count starts.
    #[error(
        "byte {offset}: stream ended inside an octet-counted frame ({got} of {expected} bytes)"
    )]
    Truncated {
        offset: u64,
        expected: usize,
        got: usize,
    },
}

/// What the framer is throwing away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    /// The rest of an oversized octet-counted frame.
    Bytes(u64),
    /// The rest of an overlong line, through its LF.
    Line,
}

/// What was found at the start of the unconsumed bytes.
enum Header {
    /// Digits so far: wait for more bytes to decide.
    NeedMore,
    /// Not an octet count: a line.
    Line,
    /// An octet count of `len` bytes; the count and its space are `header` bytes.
    Count { len: u64, header: usize },
}

/// One step of the framer, as positions (so the borrow is taken only at the end).
enum Step {
    Frame {
        start: usize,
        end: usize,
        kind: FrameKind,
    },
    Error(FramingError),
}

/// An incremental RFC 6587 framer: [`push`](Framer::push) bytes as they
/// arrive, take frames with [`next_frame`](Framer::next_frame) until it says
/// `None`, and at the end of the stream drain [`finish`](Framer::finish).
///
/// Frames and errors come out in stream order, independent of how the bytes
/// were split into pushes.
///
/// Two RFC 6587 framings share the port and may alternate within one connection; each
/// frame is classified by its first bytes:
///
/// - **Octet counting** (§3.4.1): `MSG-LEN SP SYSLOG-MSG`, MSG-LEN a decimal
///   without leading zero. A frame is taken as octet-counted when it starts
///   with 1 to 10 digits, a space and `<` (the PRI that every relayed message
///   has); a line such as `2023-11-21 started` is therefore not mistaken for
///   a count. `logger --octet-count` and rsyslog's `TCP_Framing="octet-counted"`
///   send this.
/// - **Non-transparent** (§3.4.2): the message followed by LF. The frame is
///   the bytes before the LF; a CR before it stays in the frame (and
///   [`parse`](super::parse) removes it). Empty lines (and a lone CR) are
///   skipped: some senders put a LF after octet-counted frames too.
///
/// A frame longer than the maximum is reported once as a [`FramingError`]
/// naming its byte offset in the stream, then dropped: an octet-counted one by
/// skipping its declared length (the stream stays in step), a line by
/// skipping to the next LF. The framer never holds more than one frame
/// (at most the maximum plus the last pushed chunk).
///
/// UDP needs no framer: each datagram is one message.
///
/// ```
/// use pharos_ingest::syslog::{Framer, FrameKind};
/// let mut f = Framer::new(1024);
/// f.push(b"11 <13>1 - - -<13>Oct 11 22:14:15 h app: hi\n<13>tail");
/// let a = f.next_frame().unwrap().unwrap();
/// assert_eq!((a.data, a.kind, a.offset), (&b"<13>1 - - -"[..], FrameKind::OctetCounted, 3));
/// let b = f.next_frame().unwrap().unwrap();
/// assert_eq!(b.data, b"<13>Oct 11 22:14:15 h app: hi");
/// assert!(f.next_frame().is_none()); // "<13>tail" waits for its LF...
/// assert_eq!(f.finish().unwrap().unwrap().data, b"<13>tail"); // ...or the end of the stream.
/// assert!(f.finish().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    /// First unconsumed byte of `buf`.
    pos: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Bytes after `pos` known to hold no LF (a line being accumulated).
    scanned: usize,
    max: usize,
    skip: Skip,
}

impl Default for Framer {
    fn default() -> Framer {
        Framer::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl Framer {
    /// A framer refusing frames longer than `max_frame_size` bytes (counted
    /// without octet count and LF); a maximum of 0 is taken as 1.
    pub fn new(max_frame_size: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            pos: 0,
            base: 0,
            scanned: 0,
            max: max_frame_size.max(1),
            skip: Skip::Nothing,
        }
    }

    /// The largest frame accepted, in bytes.
    pub fn max_frame_size(&self) -> usize {
        self.max
    }

    /// Stream offset of the first byte not yet made into a frame or skipped.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes held, waiting for the rest of their frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Appends the next bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        // Compact once at least half the buffer is consumed: amortised O(1)
        // per byte, and the frames handed out earlier are no longer borrowed.
        if self.pos > 0 && self.pos >= self.buf.len() - self.pos {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        let mut bytes = bytes;
        // Drop skipped bytes before they are copied in.
        if self.pos == self.buf.len() {
            let k = skip_prefix(&mut self.skip, bytes);
            bytes = &bytes[k..];
            self.base += (self.pos + k) as u64;
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, an error about the bytes in its place, or
    /// `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, FramingError>> {
        let step = self.step(false)?;
        Some(self.emit(step))
    }

    /// At the end of the stream: the next frame or error among the bytes
    /// left, the last line without its LF included; `None` when nothing is
    /// left. Call it until `None`; it also returns whatever
    /// [`next_frame`](Framer::next_frame) would have.
    pub fn finish(&mut self) -> Option<Result<Frame<'_>, FramingError>> {
        let step = self.step(true)?;
        Some(self.emit(step))
    }

    fn emit(&self, step: Step) -> Result<Frame<'_>, FramingError> {
        match step {
            Step::Frame { start, end, kind } => Ok(Frame {
                offset: self.base + start as u64,
                kind,
                data: &self.buf[start..end],
            }),
            Step::Error(e) => Err(e),
        }
    }

    fn step(&mut self, eof: bool) -> Option<Step> {
        loop {
            if self.skip != Skip::Nothing {
                self.pos += skip_prefix(&mut self.skip, &self.buf[self.pos..]);
                self.scanned = 0;
            }
            let avail = self.buf.len() - self.pos;
            if avail == 0 {
                return None;
            }
            let start = self.pos;
            let offset = self.base + start as u64;
            let rest = &self.buf[start..];
            if self.scanned == 0 && rest[0].is_ascii_digit() {
                match octet_header(rest) {
                    Header::NeedMore if !eof => return None,
                    Header::NeedMore | Header::Line => {}
                    Header::Count { len, header } => {
                        if len > self.max as u64 {
                            self.pos += header;
                            self.skip = Skip::Bytes(len);
                            self.pos += skip_prefix(&mut self.skip, &self.buf[self.pos..]);
                            return Some(Step::Error(FramingError::FrameTooLarge {
                                offset,
                                len,
                                max: self.max,
                            }));
                        }
                        // len <= max, so it fits in usize.
                        let len = len as usize;
                        let from = start + header;
                        if avail >= header + len {
                            self.pos = from + len;
                            return Some(Step::Frame {
                                start: from,
                                end: from + len,
                                kind: FrameKind::OctetCounted,
                            });
                        }
                        if !eof {
                            return None;
                        }
                        self.pos = self.buf.len();
                        return Some(Step::Error(FramingError::Truncated {
                            offset,
                            expected: len,
                            got: avail - header,
                        }));
                    }
                }
            }
            match rest[self.scanned..].iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let end = start + self.scanned + i;
                    self.pos = end + 1;
                    self.scanned = 0;
                    if end - start > self.max {
                        return Some(Step::Error(FramingError::LineTooLong {
                            offset,
                            max: self.max,
                        }));
                    }
                    if matches!(&self.buf[start..end], b"" | b"\r") {
                        continue;
                    }
                    return Some(Step::Frame {
                        start,
                        end,
                        kind: FrameKind::NonTransparent,
                    });
                }
                None if avail > self.max => {
                    self.pos = self.buf.len();
                    self.scanned = 0;
                    self.skip = Skip::Line;
                    return Some(Step::Error(FramingError::LineTooLong {
                        offset,
                        max: self.max,
                    }));
                }
                None if eof => {
                    self.pos = self.buf.len();
                    self.scanned = 0;
                    if rest == b"\r" {
                        return None;
                    }
                    return Some(Step::Frame {
                        start,
                        end: self.buf.len(),
                        kind: FrameKind::NonTransparent,
                    });
                }
                None => {
                    self.scanned = avail;
                    return None;
                }
            }
        }
    }
}

/// How many leading bytes of `bytes` `skip` eats; updates it.
fn skip_prefix(skip: &mut Skip, bytes: &[u8]) -> usize {
    match *skip {
        Skip::Nothing => 0,
        Skip::Bytes(n) => {
            let k = usize::try_from(n).map_or(bytes.len(), |n| n.min(bytes.len()));
            let left = n - k as u64;
            *skip = if left == 0 {
                Skip::Nothing
            } else {
                Skip::Bytes(left)
            };
            k
        }
        Skip::Line => match bytes.iter().position(|&b| b == b'\n') {
            Some(i) => {
                *skip = Skip::Nothing;
                i + 1
            }
            None => bytes.len(),
        },
    }
}

/// Classifies the start of a frame that begins with a digit.
fn octet_header(b: &[u8]) -> Header {
    if b.first() == Some(&b'0') {
        return Header::Line;
    }
    let mut len = 0u64;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        if i == MAX_COUNT_DIGITS {
            return Header::Line;
        }
        len = len * 10 + u64::from(c - b'0');
        i += 1;
    }
    match (b.get(i), b.get(i + 1)) {
        (None, _) | (Some(b' '), None) => Header::NeedMore,
        (Some(b' '), Some(b'<')) => Header::Count { len, header: i + 1 },
        _ => Header::Line,
    }
}
