//! Range functions over windows holding native histograms: `rate`,
//! `increase`, `delta`, `irate`, `idelta`, `resets`, `changes`,
//! `sum_over_time`, `avg_over_time`, and the selection functions.
//!
//! Each function sees the float and the histogram points of one window and
//! follows Prometheus: a window mixing floats and histograms gives no
//! result and a warning for the rate and sum/avg functions; the float-only
//! functions ignore histograms (with an info when both kinds are present).

use pharos_model::histogram::FloatHistogram;

use super::super::eval::Po;
use super::{native, Notes, Win};

/// Moves the notes of a histogram computation into `notes`; its value.
fn take(out: native::HistOutcome, name: &str, notes: &mut Notes) -> Option<FloatHistogram> {
    for n in out.notes {
        if n.is_warning() {
            notes.warn(n.message(name));
        } else {
            notes.info(n.message(name));
        }
    }
    out.value
}

fn mixed_msg(name: &str) -> String {
    native::HistNote::MixedFloatsHistograms.message(name)
}

/// `rate` / `increase` / `delta` of a window (Prometheus's `extrapolatedRate`).
pub(crate) fn rate(
    w: &Win,
    name: &str,
    fl: &[(i64, f64)],
    hs: &[(i64, FloatHistogram)],
    is_counter: bool,
    is_rate: bool,
    notes: &mut Notes,
) -> Option<Po> {
    if !fl.is_empty() && !hs.is_empty() {
        notes.warn(mixed_msg(name));
        return None;
    }
    if hs.is_empty() {
        return super::rate::extrapolated_rate(
            fl, w.start, w.end, w.range_ms, is_counter, is_rate, false,
        )
        .map(Po::F);
    }
    if hs.len() < 2 {
        return None;
    }
    let refs: Vec<(i64, &FloatHistogram)> = hs.iter().map(|(t, h)| (*t, h)).collect();
    let mut h = take(native::histogram_increase(&refs, is_counter), name, notes)?;
    let (first_t, last_t) = (hs[0].0, hs[hs.len() - 1].0);
    let mut to_start = (first_t - w.start) as f64 / 1000.0;
    let mut to_end = (w.end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = sampled / (hs.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter && h.count > 0.0 && hs[0].1.count >= 0.0 {
        let to_zero = sampled * (hs[0].1.count / h.count);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = if sampled != 0.0 {
        (sampled + to_start + to_end) / sampled
    } else {
        1.0
    };
    if is_rate {
        factor /= w.range_ms as f64 / 1000.0;
    }
    h.mul(factor);
    Some(Po::H(Box::new(h)))
}

/// `irate` (`is_rate`) / `idelta` from the last two points of either kind.
pub(crate) fn instant(
    name: &str,
    fl: &[(i64, f64)],
    hs: &[(i64, FloatHistogram)],
    is_rate: bool,
    notes: &mut Notes,
) -> Option<Po> {
    if fl.len() + hs.len() < 2 {
        return None;
    }
    // The last two points by time.
    let mut pts: Vec<(i64, Option<f64>, Option<&FloatHistogram>)> = Vec::with_capacity(4);
    for (t, v) in fl.iter().rev().take(2) {
        pts.push((*t, Some(*v), None));
    }
    for (t, h) in hs.iter().rev().take(2) {
        pts.push((*t, None, Some(h)));
    }
    pts.sort_by_key(|p| p.0);
    let (a, b) = (&pts[pts.len() - 2], &pts[pts.len() - 1]);
    let dt = b.0 - a.0;
    if dt == 0 {
        return None;
    }
    match (a.1, b.1, a.2, b.2) {
        (Some(x), Some(y), _, _) => {
            let mut v = if is_rate && y < x { y } else { y - x };
            if is_rate {
                v /= dt as f64 / 1000.0;
            }
            Some(Po::F(v))
        }
        (_, _, Some(x), Some(y)) => {
            let out = native::histogram_irate_idelta(x, y, is_rate, dt, false);
            take(out, name, notes).map(|h| Po::H(Box::new(h)))
        }
        _ => {
            notes.warn(mixed_msg(name));
            None
        }
    }
}

/// `sum_over_time` (`avg` false) / `avg_over_time` of histograms.
pub(crate) fn sum_avg(
    name: &str,
    fl: &[(i64, f64)],
    hs: &[(i64, FloatHistogram)],
    avg: bool,
    notes: &mut Notes,
) -> Option<Po> {
    if !fl.is_empty() && !hs.is_empty() {
        notes.warn(mixed_msg(name));
        return None;
    }
    if hs.is_empty() {
        let v = if avg {
            super::over_time::avg(fl)
        } else {
            super::over_time::sum(fl)
        };
        return Some(Po::F(v));
    }
    let refs: Vec<&FloatHistogram> = hs.iter().map(|(_, h)| h).collect();
    let out = if avg {
        native::histogram_avg_over_time(&refs)
    } else {
        native::histogram_sum_over_time(&refs)
    };
    take(out, name, notes).map(|h| Po::H(Box::new(h)))
}

/// Points of both kinds merged by time: `(t, float, histogram)`.
fn merged<'a>(
    fl: &'a [(i64, f64)],
    hs: &'a [(i64, FloatHistogram)],
) -> Vec<(i64, Option<f64>, Option<&'a FloatHistogram>)> {
    let mut out: Vec<(i64, Option<f64>, Option<&FloatHistogram>)> = fl
        .iter()
        .map(|(t, v)| (*t, Some(*v), None))
        .chain(hs.iter().map(|(t, h)| (*t, None, Some(h))))
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

/// `resets` over floats and histograms (a switch of kind is no reset).
pub(crate) fn resets(fl: &[(i64, f64)], hs: &[(i64, FloatHistogram)]) -> f64 {
    let pts = merged(fl, hs);
    let mut n = 0.0;
    for w in pts.windows(2) {
        match (w[0].1, w[1].1, w[0].2, w[1].2) {
            (Some(a), Some(b), _, _) if b < a => n += 1.0,
            (_, _, Some(a), Some(b)) if b.detect_reset(a) => n += 1.0,
            _ => {}
        }
    }
    n
}

/// `changes` over floats and histograms (a switch of kind is a change).
pub(crate) fn changes(fl: &[(i64, f64)], hs: &[(i64, FloatHistogram)]) -> f64 {
    let pts = merged(fl, hs);
    let mut n = 0.0;
    for w in pts.windows(2) {
        let changed = match (w[0].1, w[1].1, w[0].2, w[1].2) {
            (Some(a), Some(b), _, _) => a != b && !(a.is_nan() && b.is_nan()),
            (_, _, Some(a), Some(b)) => !a.equals(b),
            _ => true,
        };
        if changed {
            n += 1.0;
        }
    }
    n
}

/// `last_over_time` / `first_over_time` (`first`): the point of either kind.
pub(crate) fn select(
    fl: &[(i64, f64)],
    hs: &[(i64, FloatHistogram)],
    first: bool,
) -> Option<(i64, Po)> {
    let f = if first { fl.first() } else { fl.last() };
    let h = if first { hs.first() } else { hs.last() };
    match (f, h) {
        (Some(f), Some(h)) => {
            if (h.0 > f.0) != first {
                Some((h.0, Po::H(Box::new(h.1.clone()))))
            } else {
                Some((f.0, Po::F(f.1)))
            }
        }
        (Some(f), None) => Some((f.0, Po::F(f.1))),
        (None, Some(h)) => Some((h.0, Po::H(Box::new(h.1.clone())))),
        (None, None) => None,
    }
}
