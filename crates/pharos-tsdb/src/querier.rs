//! Query results: [`SnapSeries`], a series' labels with a snapshot of its
//! chunks, decoded lazily, and the merge of results from the head and blocks.
//!
//! Chunks of one series from different sources never overlap in time in
//! normal operation (the head only accepts samples after the newest block);
//! if they do, the series falls back to decoding everything eagerly, sorting
//! and de-duplicating, so a query is always correct. Out-of-order samples of
//! the head ride along as a sorted list merged at iteration time; on equal
//! timestamps the chunk sample wins. A series with tombstones over the query
//! range is decoded eagerly without the deleted samples, and dropped from the
//! result when none is left. Knows nothing of where chunks came from.

use pharos_model::{Labels, Sample, Series};

use crate::chunkenc::{Chunk, ChunkIter};
use crate::tombstones::Intervals;

/// A series of a query result.
pub(crate) struct SnapSeries {
    pub(crate) labels: Labels,
    chunks: Vec<Chunk>,
    extra: Vec<Sample>,
    mint: i64,
    maxt: i64,
}

impl SnapSeries {
    pub(crate) fn new(
        labels: Labels,
        chunks: Vec<Chunk>,
        extra: Vec<Sample>,
        mint: i64,
        maxt: i64,
    ) -> SnapSeries {
        let mut s = SnapSeries {
            labels,
            chunks,
            extra,
            mint,
            maxt,
        };
        s.normalize();
        s
    }

    fn normalize(&mut self) {
        self.chunks
            .sort_by_key(|c| c.min_time().unwrap_or(i64::MIN));
        let overlap = self
            .chunks
            .windows(2)
            .any(|w| w[1].min_time().unwrap_or(i64::MIN) <= w[0].max_time().unwrap_or(i64::MIN));
        let (mint, maxt) = (self.mint, self.maxt);
        if overlap {
            for c in std::mem::take(&mut self.chunks) {
                self.extra.extend(
                    c.iter()
                        .map_while(Result::ok)
                        .map(|(t, v)| Sample::new(t, v)),
                );
            }
        }
        self.extra.retain(|s| s.t >= mint && s.t <= maxt);
        if !self.extra.is_sorted_by_key(|s| s.t) {
            self.extra.sort_by_key(|s| s.t);
        }
        self.extra.dedup_by_key(|s| s.t);
    }

    /// Hides the samples in deleted intervals (decoding the series eagerly
    /// when any interval meets its range); `None` if no sample is left.
    pub(crate) fn without_deleted(self, deleted: Option<&Intervals>) -> Option<SnapSeries> {
        let Some(iv) = deleted.filter(|iv| iv.overlaps(self.mint, self.maxt)) else {
            return Some(self);
        };
        let mut all: Vec<Sample> = self.samples().collect();
        iv.filter(&mut all);
        if all.is_empty() {
            return None;
        }
        Some(SnapSeries {
            labels: self.labels,
            chunks: Vec::new(),
            extra: all,
            mint: self.mint,
            maxt: self.maxt,
        })
    }

    /// Adds the data of another snapshot of the same series.
    pub(crate) fn absorb(&mut self, other: SnapSeries) {
        self.chunks.extend(other.chunks);
        self.extra.extend(other.extra);
        self.mint = self.mint.min(other.mint);
        self.maxt = self.maxt.max(other.maxt);
        self.normalize();
    }

    /// Number of samples in range (decodes everything).
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.samples().count()
    }
}

/// Merges per-source results (each sorted by labels) into one sorted list
/// with one entry per label set.
pub(crate) fn merge_sources(mut sources: Vec<Vec<SnapSeries>>) -> Vec<SnapSeries> {
    sources.retain(|s| !s.is_empty());
    if sources.len() <= 1 {
        // One source is already sorted with one entry per label set.
        return sources.pop().unwrap_or_default();
    }
    let mut all: Vec<SnapSeries> = sources.into_iter().flatten().collect();
    all.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<SnapSeries> = Vec::with_capacity(all.len());
    for s in all {
        match out.last_mut() {
            Some(last) if last.labels == s.labels => last.absorb(s),
            _ => out.push(s),
        }
    }
    out
}

impl Series for SnapSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Decodes whole chunks with [`Chunk::decode_into`] and trims the first
    /// and the last to the range; series with loose samples (out-of-order
    /// or tombstoned) take the merging iterator. A corrupt chunk contributes
    /// the samples before the damage, as the iterator does, and is logged.
    fn append_floats(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        let (lo, hi) = (mint.max(self.mint), maxt.min(self.maxt));
        if lo > hi {
            return;
        }
        if !self.extra.is_empty() {
            out.extend(
                self.samples()
                    .filter(|s| s.t >= lo && s.t <= hi)
                    .map(|s| (s.t, s.v)),
            );
            return;
        }
        for c in &self.chunks {
            if c.max_time().is_some_and(|m| m < lo) {
                continue;
            }
            if c.min_time().is_some_and(|m| m > hi) {
                break;
            }
            let start = out.len();
            if let Err(e) = c.decode_from(lo, out) {
                tracing::warn!(series = %self.labels, error = %e, "corrupt chunk: samples after the damage are skipped");
            }
            let new = &out[start..];
            if new.first().is_some_and(|p| p.0 < lo) {
                let k = new.partition_point(|p| p.0 < lo);
                out.drain(start..start + k);
            }
            let new = &out[start..];
            if new.last().is_some_and(|p| p.0 > hi) {
                let k = new.partition_point(|p| p.0 <= hi);
                out.truncate(start + k);
                break;
            }
        }
    }

    fn samples(&self) -> Box<dyn Iterator<Item = Sample> + '_> {
        Box::new(SnapIter {
            chunks: self.chunks.iter(),
            cur: None,
            pending: None,
            extra: &self.extra,
            ei: 0,
            mint: self.mint,
            maxt: self.maxt,
            done: false,
        })
    }
}

struct SnapIter<'a> {
    chunks: std::slice::Iter<'a, Chunk>,
    cur: Option<ChunkIter<'a>>,
    pending: Option<Sample>,
    extra: &'a [Sample],
    ei: usize,
    mint: i64,
    maxt: i64,
    done: bool,
}

impl SnapIter<'_> {
    fn next_chunk_sample(&mut self) -> Option<Sample> {
        while !self.done {
            if let Some(it) = self.cur.as_mut() {
                match it.next() {
                    Some(Ok((t, v))) => {
                        if t < self.mint {
                            continue;
                        }
                        if t > self.maxt {
                            self.done = true;
                            return None;
                        }
                        return Some(Sample::new(t, v));
                    }
                    _ => self.cur = None,
                }
            }
            let c = self.chunks.next()?;
            if c.max_time().is_some_and(|m| m < self.mint) {
                continue;
            }
            if c.min_time().is_some_and(|m| m > self.maxt) {
                self.done = true;
                return None;
            }
            self.cur = Some(c.iter());
        }
        None
    }
}

impl Iterator for SnapIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.pending.is_none() {
            self.pending = self.next_chunk_sample();
        }
        let e = self.extra.get(self.ei).copied();
        match (self.pending, e) {
            (None, None) => None,
            (Some(p), None) => {
                self.pending = None;
                Some(p)
            }
            (None, Some(e)) => {
                self.ei += 1;
                Some(e)
            }
            (Some(p), Some(e)) => {
                if e.t < p.t {
                    self.ei += 1;
                    Some(e)
                } else {
                    if e.t == p.t {
                        self.ei += 1;
                    }
                    self.pending = None;
                    Some(p)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(ts: &[i64]) -> Chunk {
        let mut c = Chunk::new();
        for &t in ts {
            c.append(t, t as f64);
        }
        c
    }

    #[test]
    fn lazy_range_and_merge() {
        let l = Labels::from_pairs(&[("a", "1")]);
        let s = SnapSeries::new(
            l.clone(),
            vec![chunk(&[10, 20, 30]), chunk(&[1, 2, 3])],
            vec![
                Sample::new(15, 0.5),
                Sample::new(20, 9.0),
                Sample::new(100, 1.0),
            ],
            2,
            25,
        );
        let got: Vec<(i64, f64)> = s.samples().map(|s| (s.t, s.v)).collect();
        assert_eq!(
            got,
            vec![(2, 2.0), (3, 3.0), (10, 10.0), (15, 0.5), (20, 20.0)]
        );

        // overlapping chunks fall back to eager merge
        let s = SnapSeries::new(
            l,
            vec![chunk(&[1, 5, 9]), chunk(&[3, 5, 7])],
            vec![],
            0,
            100,
        );
        let ts: Vec<i64> = s.samples().map(|s| s.t).collect();
        assert_eq!(ts, vec![1, 3, 5, 7, 9]);
    }

    #[test]
    fn append_floats_matches_iterator() {
        let l = Labels::from_pairs(&[("a", "1")]);
        let chunks = || vec![chunk(&[1, 2, 3]), chunk(&[10, 20, 30]), chunk(&[40, 50])];
        // An appendable chunk long enough to carry saved decoder states.
        let long: Vec<i64> = (0..150).map(|i| 1000 + i * 10).collect();
        let s = SnapSeries::new(l.clone(), vec![chunk(&long)], vec![], 0, 5000);
        for mint in [0, 1000, 1395, 1400, 1405, 1795, 1800, 2000, 2490, 2500] {
            let mut got = Vec::new();
            s.append_floats(mint, 2400, &mut got);
            let want: Vec<(i64, f64)> = long
                .iter()
                .filter(|&&t| t >= mint && t <= 2400)
                .map(|&t| (t, t as f64))
                .collect();
            assert_eq!(got, want, "from {mint}");
        }
        for (mint, maxt) in [
            (0, 100),
            (2, 25),
            (3, 40),
            (11, 19),
            (31, 39),
            (60, 70),
            (20, 20),
        ] {
            for extra in [vec![], vec![Sample::new(15, 0.5)]] {
                let s = SnapSeries::new(l.clone(), chunks(), extra, 0, 45);
                let want: Vec<(i64, f64)> = s
                    .samples()
                    .filter(|p| p.t >= mint && p.t <= maxt)
                    .map(|p| (p.t, p.v))
                    .collect();
                let mut got = vec![(-1, -1.0)];
                s.append_floats(mint, maxt, &mut got);
                assert_eq!(got[0], (-1, -1.0));
                assert_eq!(&got[1..], &want[..], "[{mint}, {maxt}]");
            }
        }
    }

    #[test]
    fn merge_by_labels() {
        let a = Labels::from_pairs(&[("a", "1")]);
        let b = Labels::from_pairs(&[("a", "2")]);
        let out = merge_sources(vec![
            vec![SnapSeries::new(
                a.clone(),
                vec![chunk(&[1, 2])],
                vec![],
                0,
                10,
            )],
            vec![
                SnapSeries::new(a.clone(), vec![chunk(&[5, 6])], vec![], 0, 10),
                SnapSeries::new(b, vec![chunk(&[1])], vec![], 0, 10),
            ],
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels, a);
        assert_eq!(out[0].count(), 4);
    }
}
