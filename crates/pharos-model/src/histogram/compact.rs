//! Prometheus `Compact`: normalising the bucket layout.

use super::{FloatHistogram, Span};

impl FloatHistogram {
    /// Normalises the bucket layout like Prometheus `Compact(maxEmptyBuckets)`:
    /// zero-length spans disappear, adjacent spans merge, empty buckets at the
    /// edges of spans are dropped, runs of more than `max_empty_buckets` empty
    /// buckets inside a span split it, and spans separated by at most
    /// `max_empty_buckets` missing buckets are joined (filling the gap with
    /// explicit zeros). Counts are not changed.
    pub fn compact(&mut self, max_empty_buckets: usize) {
        compact_side(
            &mut self.positive_spans,
            &mut self.positive_buckets,
            None,
            max_empty_buckets,
        );
        compact_side(
            &mut self.negative_spans,
            &mut self.negative_buckets,
            None,
            max_empty_buckets,
        );
    }

    /// Prometheus `kahanCompact`: compacts `self` and the parallel
    /// compensation histogram together; a bucket is empty only if its count
    /// and its compensation are both zero.
    pub(crate) fn compact_with_compensation(
        &mut self,
        max_empty_buckets: usize,
        comp: &mut FloatHistogram,
    ) {
        compact_side(
            &mut self.positive_spans,
            &mut self.positive_buckets,
            Some(&mut comp.positive_buckets),
            max_empty_buckets,
        );
        compact_side(
            &mut self.negative_spans,
            &mut self.negative_buckets,
            Some(&mut comp.negative_buckets),
            max_empty_buckets,
        );
    }
}

/// Largest gap that joining spans fills with explicit zeros. Real histograms
/// never come close (a whole schema-8 range has ~540k buckets); the cap keeps
/// absurd offsets from allocating gigabytes.
const MAX_FILLED_GAP: i64 = 1 << 20;

/// A run of kept buckets starting at an absolute index: `(count, compensation)`.
struct Piece {
    start: i64,
    buckets: Vec<(f64, f64)>,
}

pub(crate) fn compact_side(
    spans: &mut Vec<Span>,
    values: &mut Vec<f64>,
    comps: Option<&mut Vec<f64>>,
    max_empty: usize,
) {
    let max_gap = i64::try_from(max_empty).unwrap_or(i64::MAX);
    let max_fill = max_gap.min(MAX_FILLED_GAP);
    // Nothing to do (Prometheus's fast path): no empty bucket, no zero-length
    // span, and no offset small enough to merge.
    if values.iter().all(|&v| v != 0.0)
        && spans
            .iter()
            .all(|s| s.length != 0 && i64::from(s.offset) > max_gap)
    {
        return;
    }
    let comp_at = |i: usize| {
        comps
            .as_ref()
            .and_then(|c| c.get(i).copied())
            .unwrap_or(0.0)
    };

    // Absolute runs of buckets: zero-length spans vanish, adjacent spans merge.
    // Spans describing more buckets than there are counts are truncated.
    let mut runs: Vec<(i64, usize, usize)> = Vec::with_capacity(spans.len());
    let mut pos = 0usize;
    let mut prev_end: Option<i64> = None;
    for span in spans.iter() {
        let start = prev_end.map_or(i64::from(span.offset), |e| e + i64::from(span.offset));
        prev_end = Some(start + i64::from(span.length));
        let len = (span.length as usize).min(values.len().saturating_sub(pos));
        if len == 0 {
            continue;
        }
        match runs.last_mut() {
            Some(r) if r.0 + r.2 as i64 == start => r.2 += len,
            _ => runs.push((start, pos, len)),
        }
        pos += len;
    }

    // Cut empty buckets at the edges of runs, and inner stretches of more than
    // `max_empty` empty buckets.
    let empty = |i: usize| values[i] == 0.0 && comp_at(i) == 0.0;
    let mut pieces: Vec<Piece> = Vec::new();
    for &(start, first, len) in &runs {
        let mut k = 0usize;
        let mut current: Option<Piece> = None;
        while k < len {
            if !empty(first + k) {
                let piece = current.get_or_insert_with(|| Piece {
                    start: start + k as i64,
                    buckets: Vec::new(),
                });
                piece.buckets.push((values[first + k], comp_at(first + k)));
                k += 1;
                continue;
            }
            let stretch = (k..len).take_while(|&j| empty(first + j)).count();
            let inner = current.is_some() && k + stretch < len;
            if inner && stretch <= max_empty {
                if let Some(piece) = current.as_mut() {
                    piece
                        .buckets
                        .extend((k..k + stretch).map(|j| (values[first + j], comp_at(first + j))));
                }
            } else if let Some(piece) = current.take() {
                pieces.push(piece);
            }
            k += stretch;
        }
        pieces.extend(current);
    }

    // Join pieces separated by at most `max_empty` missing buckets.
    let mut out_runs: Vec<(i64, u32)> = Vec::with_capacity(pieces.len());
    let mut out_values = Vec::with_capacity(values.len());
    let mut out_comps = Vec::with_capacity(if comps.is_some() { values.len() } else { 0 });
    for piece in pieces {
        let len = piece.buckets.len() as u32;
        let gap = out_runs
            .last()
            .map(|&(s, l)| piece.start - (s + i64::from(l)));
        match (out_runs.last_mut(), gap) {
            (Some(last), Some(gap))
                if max_empty > 0
                    && (0..=max_fill).contains(&gap)
                    && last
                        .1
                        .checked_add(gap as u32)
                        .and_then(|l| l.checked_add(len))
                        .is_some() =>
            {
                last.1 += gap as u32 + len;
                out_values.extend(std::iter::repeat_n(0.0, gap as usize));
                out_comps.extend(std::iter::repeat_n(0.0, gap as usize));
            }
            _ => out_runs.push((piece.start, len)),
        }
        for (v, c) in piece.buckets {
            out_values.push(v);
            out_comps.push(c);
        }
    }

    let mut prev_end: Option<i64> = None;
    *spans = out_runs
        .iter()
        .map(|&(start, length)| {
            let offset = prev_end.map_or(start, |e| start - e);
            prev_end = Some(start + i64::from(length));
            Span::new(
                offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
                length,
            )
        })
        .collect();
    *values = out_values;
    if let Some(c) = comps {
        *c = out_comps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spans: &[Span], values: &[f64], max: usize) -> (Vec<Span>, Vec<f64>) {
        let (mut s, mut v) = (spans.to_vec(), values.to_vec());
        compact_side(&mut s, &mut v, None, max);
        (s, v)
    }

    fn sp(v: &[(i32, u32)]) -> Vec<Span> {
        v.iter().map(|&(o, l)| Span::new(o, l)).collect()
    }

    #[test]
    fn nothing_to_do() {
        let spans = sp(&[(-2, 1), (2, 3)]);
        let vals = [1.0, 3.3, 4.2, 0.1];
        assert_eq!(run(&spans, &vals, 0), (spans.clone(), vals.to_vec()));
    }

    #[test]
    fn drops_edges_and_zero_length_spans() {
        let (s, v) = run(
            &sp(&[(-2, 0), (2, 4), (0, 0), (3, 2)]),
            &[0.0, 1.0, 2.0, 0.0, 3.0, 0.0],
            0,
        );
        // Absolute: [0,4) = 0 1 2 0, then [7,9) = 3 0.
        assert_eq!(s, sp(&[(1, 2), (4, 1)]));
        assert_eq!(v, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn merges_adjacent_spans() {
        let (s, v) = run(&sp(&[(0, 2), (0, 1), (2, 1)]), &[1.0, 2.0, 3.0, 4.0], 0);
        assert_eq!(s, sp(&[(0, 3), (2, 1)]));
        assert_eq!(v, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn inner_empty_buckets() {
        let spans = sp(&[(0, 6)]);
        let vals = [1.0, 0.0, 0.0, 2.0, 0.0, 3.0];
        assert_eq!(
            run(&spans, &vals, 0),
            (sp(&[(0, 1), (2, 1), (1, 1)]), vec![1.0, 2.0, 3.0])
        );
        assert_eq!(
            run(&spans, &vals, 1),
            (sp(&[(0, 1), (2, 3)]), vec![1.0, 2.0, 0.0, 3.0])
        );
        assert_eq!(run(&spans, &vals, 2), (spans.clone(), vals.to_vec()));
        // -0.0 inside a kept stretch stays as it is.
        let vals = [1.0, -0.0, 2.0];
        let (_, v) = run(&sp(&[(0, 3)]), &vals, 5);
        assert_eq!(v[1].to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn joins_close_spans() {
        let spans = sp(&[(-2, 2), (2, 1), (5, 1)]);
        let vals = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(
            run(&spans, &vals, 2),
            (sp(&[(-2, 5), (5, 1)]), vec![1.0, 2.0, 0.0, 0.0, 3.0, 4.0])
        );
        assert_eq!(
            run(&spans, &vals, usize::MAX),
            (
                sp(&[(-2, 11)]),
                vec![1.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0]
            )
        );
    }

    #[test]
    fn all_empty() {
        assert_eq!(
            run(&sp(&[(3, 2), (1, 0)]), &[0.0, 0.0], 3),
            (vec![], vec![])
        );
        assert_eq!(run(&sp(&[(3, 0)]), &[], 0), (vec![], vec![]));
    }

    #[test]
    fn inconsistent_layouts_do_not_panic() {
        let (s, v) = run(&sp(&[(0, 5)]), &[1.0, 0.0], 0);
        assert_eq!((s, v), (sp(&[(0, 1)]), vec![1.0]));
        let (s, v) = run(&sp(&[(0, 1)]), &[1.0, 0.0, 2.0], 0);
        assert_eq!((s, v), (sp(&[(0, 1)]), vec![1.0]));
        let (s, _) = run(
            &sp(&[(i32::MAX, 2), (i32::MAX, 1)]),
            &[1.0, 2.0, 3.0],
            usize::MAX,
        );
        assert!(!s.is_empty());
    }

    #[test]
    fn compensation_keeps_buckets() {
        let mut spans = sp(&[(0, 3)]);
        let mut vals = vec![0.0, 0.0, 1.0];
        let mut comps = vec![0.0, 1e-17, 0.0];
        compact_side(&mut spans, &mut vals, Some(&mut comps), 0);
        assert_eq!(spans, sp(&[(1, 2)]));
        assert_eq!(vals, vec![0.0, 1.0]);
        assert_eq!(comps, vec![1e-17, 0.0]);
    }
}
