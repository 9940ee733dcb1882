//! Encoding of the records the metrics store writes to its WAL and checkpoints:
//! series (ref → labels), samples (ref, t, v), metric metadata and
//! tombstones (ref, deleted interval). The byte
//! layout is specified in `docs/format/wal-records.md`.
//!
//! Decoding is streaming (callbacks receive borrowed strings) so that replay
//! does not allocate per label. This module knows nothing of the head or of how
//! records are framed in files.

use pharos_model::{MetricMetadata, MetricType};

use crate::encoding::{put_str, put_uvarint, put_varint, DecodeError, Decoder};

pub(crate) const REC_SERIES: u8 = 1;
pub(crate) const REC_SAMPLES: u8 = 2;
pub(crate) const REC_METADATA: u8 = 3;
pub(crate) const REC_TOMBSTONES: u8 = 4;

/// Starts a series record; append entries with [`put_series`].
pub(crate) fn begin(buf: &mut Vec<u8>, typ: u8) {
    buf.clear();
    buf.push(typ);
}

/// Appends one series entry to a series record.
pub(crate) fn put_series<'a>(
    buf: &mut Vec<u8>,
    sref: u32,
    labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) {
    put_uvarint(buf, u64::from(sref));
    put_uvarint(buf, labels.len() as u64);
    for (n, v) in labels {
        put_str(buf, n);
        put_str(buf, v);
    }
}

/// Encodes a samples record: count, base time, then per sample the ref, the
/// zig-zag delta to the base time, and the raw value bits.
pub(crate) fn encode_samples(
    buf: &mut Vec<u8>,
    samples: impl ExactSizeIterator<Item = (u32, i64, f64)> + Clone,
) {
    begin(buf, REC_SAMPLES);
    let n = samples.len();
    put_uvarint(buf, n as u64);
    let base = samples.clone().next().map_or(0, |s| s.1);
    put_varint(buf, base);
    for (r, t, v) in samples {
        put_uvarint(buf, u64::from(r));
        put_varint(buf, t.wrapping_sub(base));
        buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

/// Encodes a tombstones record: per entry the ref and the deleted interval
/// `[mint, maxt]` (both inclusive).
pub(crate) fn encode_tombstones(buf: &mut Vec<u8>, stones: impl Iterator<Item = (u32, i64, i64)>) {
    begin(buf, REC_TOMBSTONES);
    for (r, a, b) in stones {
        put_uvarint(buf, u64::from(r));
        put_varint(buf, a);
        put_varint(buf, b);
    }
}

fn type_byte(t: MetricType) -> u8 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::Stateset => 7,
    }
}

fn byte_type(b: u8) -> MetricType {
    match b {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::Stateset,
        _ => MetricType::Unknown,
    }
}

/// Appends one metadata entry to a metadata record.
pub(crate) fn put_metadata(buf: &mut Vec<u8>, family: &str, m: &MetricMetadata) {
    put_str(buf, family);
    buf.push(type_byte(m.metric_type));
    put_str(buf, &m.help);
    put_str(buf, &m.unit);
}

/// Receives decoded records.
pub(crate) trait RecordVisitor {
    fn series(&mut self, sref: u32, labels: &[(&str, &str)]);
    fn sample(&mut self, sref: u32, t: i64, v: f64);
    fn metadata(&mut self, family: &str, m: MetricMetadata);
    fn tombstone(&mut self, sref: u32, mint: i64, maxt: i64);
}

/// Decodes one record, calling the visitor per entry. Entries decoded before
/// an error have been delivered.
pub(crate) fn decode(rec: &[u8], v: &mut dyn RecordVisitor) -> Result<(), DecodeError> {
    let mut d = Decoder::new(rec);
    match d.u8()? {
        REC_SERIES => {
            let mut labels: Vec<(&str, &str)> = Vec::new();
            while !d.is_empty() {
                let sref = d.uvarint32()?;
                let n = d.uvarint()?;
                labels.clear();
                for _ in 0..n {
                    let name = d.str()?;
                    let value = d.str()?;
                    labels.push((name, value));
                }
                v.series(sref, &labels);
            }
        }
        REC_SAMPLES => {
            let n = d.uvarint()?;
            let base = d.varint()?;
            for _ in 0..n {
                let sref = d.uvarint32()?;
                let t = base.wrapping_add(d.varint()?);
                let val = f64::from_bits(d.u64_le()?);
                v.sample(sref, t, val);
            }
        }
        REC_METADATA => {
            while !d.is_empty() {
                let family = d.str()?;
                let metric_type = byte_type(d.u8()?);
                let help = d.str()?.to_string();
                let unit = d.str()?.to_string();
                v.metadata(
                    family,
                    MetricMetadata {
                        metric_type,
                        help,
                        unit,
                    },
                );
            }
        }
        REC_TOMBSTONES => {
            while !d.is_empty() {
                let sref = d.uvarint32()?;
                let mint = d.varint()?;
                let maxt = d.varint()?;
                v.tombstone(sref, mint, maxt);
            }
        }
        t => return Err(DecodeError::UnknownType(t)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Default, Debug, PartialEq)]
    struct Collect {
        series: Vec<(u32, Vec<(String, String)>)>,
        samples: Vec<(u32, i64, u64)>,
        meta: Vec<(String, MetricMetadata)>,
        stones: Vec<(u32, i64, i64)>,
    }

    impl RecordVisitor for Collect {
        fn series(&mut self, sref: u32, labels: &[(&str, &str)]) {
            self.series.push((
                sref,
                labels
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            ));
        }
        fn sample(&mut self, sref: u32, t: i64, v: f64) {
            self.samples.push((sref, t, v.to_bits()));
        }
        fn metadata(&mut self, family: &str, m: MetricMetadata) {
            self.meta.push((family.to_string(), m));
        }
        fn tombstone(&mut self, sref: u32, mint: i64, maxt: i64) {
            self.stones.push((sref, mint, maxt));
        }
    }

    #[test]
    fn roundtrip() {
        let mut buf = Vec::new();
        let mut c = Collect::default();
        begin(&mut buf, REC_SERIES);
        put_series(&mut buf, 7, [("__name__", "up"), ("job", "x")].into_iter());
        put_series(&mut buf, 9, [("a", "b")].into_iter());
        decode(&buf, &mut c).unwrap();
        let samples = [
            (7u32, 1000i64, 1.5f64),
            (9, 900, f64::NAN),
            (7, i64::MAX, -0.0),
        ];
        encode_samples(&mut buf, samples.iter().copied());
        decode(&buf, &mut c).unwrap();
        begin(&mut buf, REC_METADATA);
        let m = MetricMetadata {
            metric_type: MetricType::Counter,
            help: "h".into(),
            unit: "s".into(),
        };
        put_metadata(&mut buf, "up", &m);
        decode(&buf, &mut c).unwrap();
        assert_eq!(c.series.len(), 2);
        assert_eq!(c.series[0].1[1], ("job".to_string(), "x".to_string()));
        assert_eq!(
            c.samples,
            samples
                .iter()
                .map(|s| (s.0, s.1, s.2.to_bits()))
                .collect::<Vec<_>>()
        );
        assert_eq!(c.meta, vec![("up".to_string(), m)]);
        let stones = [(7u32, i64::MIN, 5i64), (9, -3, i64::MAX)];
        encode_tombstones(&mut buf, stones.iter().copied());
        decode(&buf, &mut c).unwrap();
        assert_eq!(c.stones, stones.to_vec());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&b, &mut Collect::default());
        }
    }
}
