//! One WAL segment file: its name, its header (with the sequence number of its first record), record framing, and
//! [`SegmentReader`], which reads framed records sequentially and reports the first bad one.
//!
//! Knows nothing about segment rotation, fsync policy or what records contain.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::WalError;

/// Segment file magic and format version 2: the header goes on with the
/// segment's first sequence number and a checksum ([`encode_header`]).
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"PHWAL\x00\x00\x02";
/// Version 1: the magic alone (still read; never written).
pub(crate) const SEGMENT_MAGIC_V1: [u8; 8] = *b"PHWAL\x00\x00\x01";
/// Bytes of a version 2 header: magic, first sequence number (u64 LE),
/// CRC32C of the 16 bytes before it (u32 LE).
pub(crate) const HEADER_LEN: u64 = 20;
/// Bytes of a version 1 header.
pub(crate) const HEADER_LEN_V1: u64 = SEGMENT_MAGIC_V1.len() as u64;

/// The version 2 header of a segment whose first record is record number
/// `first` of the WAL (records are numbered from 0 as appended, across
/// segments).
pub(crate) fn encode_header(first: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..16].copy_from_slice(&first.to_le_bytes());
    let crc = crc32c::crc32c(&h[..16]);
    h[16..].copy_from_slice(&crc.to_le_bytes());
    h
}
/// Per-record framing: u32 LE payload length, u32 LE CRC32C.
pub(crate) const FRAME_LEN: usize = 8;

/// File name of segment `index`: ten decimal digits, so every u32 sorts correctly.
pub(crate) fn segment_name(index: u32) -> String {
    format!("{index:010}")
}

pub(crate) fn segment_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(segment_name(index))
}

/// Parses a segment file name; anything else in the directory is not a segment.
pub(crate) fn parse_segment_name(name: &str) -> Option<u32> {
    if name.len() == 10 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

/// CRC32C over the length field and the payload.
pub(crate) fn record_crc(len_le: [u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len_le), payload)
}

/// Appends the framed form of `rec` to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, rec: &[u8]) {
    let len_le = (rec.len() as u32).to_le_bytes();
    out.extend_from_slice(&len_le);
    out.extend_from_slice(&record_crc(len_le, rec).to_le_bytes());
    out.extend_from_slice(rec);
}

/// Why reading a segment stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Byte offset of the first byte that is not part of an intact record.
    pub(crate) offset: u64,
    pub(crate) reason: &'static str,
}

/// Sequential reader of a segment's records.
pub(crate) struct SegmentReader {
    pub(crate) path: PathBuf,
    reader: BufReader<File>,
    /// Offset of the next unread byte (the end of the last intact record).
    pub(crate) offset: u64,
    file_len: u64,
    /// The sequence number of the segment's first record (version 2), so
    /// that records missing at the end of the segment before show.
    pub(crate) first: Option<u64>,
    /// Records read so far.
    pub(crate) records: u64,
}

/// Reads up to `buf.len()` bytes; returns how many were read (short only at end of file).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

impl SegmentReader {
    /// Opens a segment and checks its header. `Ok(Err(damage))` means the header is missing or
    /// wrong (offset 0).
    pub(crate) fn open(path: PathBuf) -> Result<Result<SegmentReader, Damage>, WalError> {
        let file = File::open(&path).map_err(WalError::io(&path))?;
        let file_len = file.metadata().map_err(WalError::io(&path))?.len();
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let damage = |reason| Ok(Err(Damage { offset: 0, reason }));
        let mut header = [0u8; HEADER_LEN as usize];
        let n = read_full(&mut reader, &mut header[..HEADER_LEN_V1 as usize])
            .map_err(WalError::io(&path))?;
        if n < HEADER_LEN_V1 as usize {
            return damage("segment header truncated");
        }
        let (first, offset) = if header[..8] == SEGMENT_MAGIC_V1 {
            (None, HEADER_LEN_V1)
        } else if header[..8] == SEGMENT_MAGIC {
            let n = read_full(&mut reader, &mut header[HEADER_LEN_V1 as usize..])
                .map_err(WalError::io(&path))?;
            if n < (HEADER_LEN - HEADER_LEN_V1) as usize {
                return damage("segment header truncated");
            }
            let mut first = [0u8; 8];
            first.copy_from_slice(&header[8..16]);
            let first = u64::from_le_bytes(first);
            if header != encode_header(first) {
                return damage("segment header checksum mismatch");
            }
            (Some(first), HEADER_LEN)
        } else {
            return damage("bad segment header");
        };
        Ok(Ok(SegmentReader {
            path,
            reader,
            offset,
            file_len,
            first,
            records: 0,
        }))
    }

    /// Reads the next record into `buf`. `Ok(Ok(true))`: a record; `Ok(Ok(false))`: clean end;
    /// `Ok(Err(damage))`: the bytes from `damage.offset` on are not an intact record.
    pub(crate) fn next_record(
        &mut self,
        buf: &mut Vec<u8>,
    ) -> Result<Result<bool, Damage>, WalError> {
        let at = self.offset;
        let damage = |reason| Ok(Err(Damage { offset: at, reason }));
        let mut frame = [0u8; FRAME_LEN];
        let n = read_full(&mut self.reader, &mut frame).map_err(WalError::io(&self.path))?;
        if n == 0 {
            return Ok(Ok(false));
        }
        if n < FRAME_LEN {
            return damage("partial record header");
        }
        let len_le = [frame[0], frame[1], frame[2], frame[3]];
        let crc = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let len = u64::from(u32::from_le_bytes(len_le));
        if len > crate::MAX_RECORD_LEN as u64 {
            return damage("record length over the maximum");
        }
        if at + FRAME_LEN as u64 + len > self.file_len {
            return damage("record extends past end of segment");
        }
        buf.clear();
        buf.resize(len as usize, 0);
        let n = read_full(&mut self.reader, buf).map_err(WalError::io(&self.path))?;
        if n < buf.len() {
            return damage("partial record payload");
        }
        if record_crc(len_le, buf) != crc {
            return damage("record checksum mismatch");
        }
        self.offset = at + FRAME_LEN as u64 + len;
        self.records += 1;
        Ok(Ok(true))
    }
}
