//! WAL records of the log store (format: `docs/format/logs-wal.md`).
//!
//! Three kinds: a *stream* record gives a new stream's id and labels, an
//! *entries* record holds entries of one stream, and a *cut* record starts a
//! new head generation (the head before it is being written out as a
//! segment; stream ids start again from 0). A stream record is always
//! written before (in the same batch as) the first entries of its stream.

use pharos_model::{Label, Labels, LogEntry};

pub(crate) use super::codec::CodecError as RecordError;
use super::codec::{put_str, put_uvarint, Reader};

const STREAM: u8 = 1;
const ENTRIES: u8 = 2;
const CUT: u8 = 3;

/// A decoded WAL record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    Stream { id: u32, labels: Labels },
    Entries { stream: u32, entries: Vec<LogEntry> },
    Cut { generation: u64 },
}

/// Appends a cut record to `out`.
pub(crate) fn encode_cut(out: &mut Vec<u8>, generation: u64) {
    out.push(CUT);
    put_uvarint(out, generation);
}

/// Appends a stream record to `out`.
pub(crate) fn encode_stream(out: &mut Vec<u8>, id: u32, labels: &Labels) {
    out.push(STREAM);
    put_uvarint(out, u64::from(id));
    put_uvarint(out, labels.len() as u64);
    for l in labels.iter() {
        put_str(out, &l.name);
        put_str(out, &l.value);
    }
}

/// Appends an entries record to `out`. Timestamps are zigzag deltas from the
/// previous entry's (the first from 0).
pub(crate) fn encode_entries<'a>(
    out: &mut Vec<u8>,
    stream: u32,
    entries: impl ExactSizeIterator<Item = &'a LogEntry>,
) {
    out.push(ENTRIES);
    put_uvarint(out, u64::from(stream));
    put_uvarint(out, entries.len() as u64);
    let mut prev = 0i64;
    for e in entries {
        let d = e.ts.wrapping_sub(prev);
        put_uvarint(out, ((d << 1) ^ (d >> 63)) as u64);
        prev = e.ts;
        put_str(out, &e.line);
        put_uvarint(out, e.metadata.len() as u64);
        for (k, v) in &e.metadata {
            put_str(out, k);
            put_str(out, v);
        }
    }
}

/// Decodes one record.
pub(crate) fn decode(b: &[u8]) -> Result<Record, RecordError> {
    let mut r = Reader::new(b, "log WAL record");
    let rec = match r.byte()? {
        STREAM => {
            let id = r.id()?;
            let n = r.count()?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let name = r.str()?.to_string();
                let value = r.str()?.to_string();
                v.push(Label { name, value });
            }
            Record::Stream {
                id,
                labels: Labels::from_vec(v),
            }
        }
        ENTRIES => {
            let stream = r.id()?;
            let n = r.count()?;
            let mut entries = Vec::with_capacity(n);
            let mut prev = 0i64;
            for _ in 0..n {
                let z = r.uvarint()?;
                let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
                prev = prev.wrapping_add(d);
                let line = r.str()?.into();
                let m = r.count()?;
                let mut metadata = Vec::with_capacity(m);
                for _ in 0..m {
                    metadata.push((r.str()?.to_string(), r.str()?.to_string()));
                }
                entries.push(LogEntry {
                    ts: prev,
                    line,
                    metadata,
                });
            }
            Record::Entries { stream, entries }
        }
        CUT => Record::Cut {
            generation: r.uvarint()?,
        },
        _ => {
            r.pos = 0;
            return Err(r.err("unknown record type"));
        }
    };
    r.finish()?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry() -> impl Strategy<Value = LogEntry> {
        (
            any::<i64>(),
            ".{0,40}",
            proptest::collection::vec(("[a-z_]{1,8}", ".{0,10}"), 0..3),
        )
            .prop_map(|(ts, line, metadata)| LogEntry {
                ts,
                line: line.into(),
                metadata,
            })
    }

    proptest! {
        #[test]
        fn entries_round_trip(id in any::<u32>(), es in proptest::collection::vec(entry(), 0..20)) {
            let mut b = Vec::new();
            encode_entries(&mut b, id, es.iter());
            prop_assert_eq!(decode(&b), Ok(Record::Entries { stream: id, entries: es }));
        }

        #[test]
        fn streams_round_trip(id in any::<u32>(), pairs in proptest::collection::vec(("[a-z_]{1,8}", ".{1,10}"), 1..6)) {
            let labels = Labels::from_pairs(&pairs);
            let mut b = Vec::new();
            encode_stream(&mut b, id, &labels);
            prop_assert_eq!(decode(&b), Ok(Record::Stream { id, labels }));
        }

        #[test]
        fn cuts_round_trip(generation in any::<u64>()) {
            let mut b = Vec::new();
            encode_cut(&mut b, generation);
            prop_assert_eq!(decode(&b), Ok(Record::Cut { generation }));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&b);
        }

        #[test]
        fn every_truncation_is_an_error(es in proptest::collection::vec(entry(), 1..5)) {
            let mut b = Vec::new();
            encode_entries(&mut b, 7, es.iter());
            for cut in 0..b.len() {
                prop_assert!(decode(&b[..cut]).is_err());
            }
        }
    }

    #[test]
    fn errors_name_the_offset() {
        assert_eq!(
            decode(&[9]),
            Err(RecordError::Corrupt {
                context: "log WAL record",
                offset: 0,
                what: "unknown record type"
            })
        );
        let e = decode(&[ENTRIES, 1, 100]).unwrap_err().to_string();
        assert_eq!(e, "log WAL record: byte 3: count larger than the record");
    }
}
