//! An in-memory [`Queryable`] holding what the `load` commands wrote.
//!
//! Series are kept sorted by labels. Native histogram samples cannot be
//! represented by the engine; their positions are remembered, and a query
//! that selects a series with histogram samples in its range raises
//! [`MemStorage::touched_histograms`], so the runner can fail the eval with
//! a clear reason instead of a confusing mismatch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pharos_model::{Labels, Matcher, Querier, Queryable, Sample, Series, StorageError};

use super::format::Load;
use super::load::SeqValue;

/// One stored point: a float, or a native histogram placeholder.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Point {
    Float(f64),
    Histogram,
}

#[derive(Debug, Default)]
struct StoredSeries {
    labels: Labels,
    /// Ascending by time, unique times.
    points: Vec<(i64, Point)>,
}

/// The test storage.
#[derive(Debug, Default)]
pub struct MemStorage {
    series: Arc<Vec<Arc<StoredSeries>>>,
    touched: Arc<AtomicBool>,
}

impl MemStorage {
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Drops all data (`clear`).
    pub fn clear(&mut self) {
        self.series = Arc::new(Vec::new());
        self.reset_touched();
    }

    /// Whether any query since the last reset selected histogram samples.
    pub fn touched_histograms(&self) -> bool {
        self.touched.load(Ordering::Relaxed)
    }

    pub fn reset_touched(&self) {
        self.touched.store(false, Ordering::Relaxed);
    }

    /// Number of stored series.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Applies a `load` command: value i of each series lands at
    /// i × interval. A later line for the same series within one load
    /// replaces the earlier one; later loads add to earlier data (a point
    /// at an existing time overwrites it).
    pub fn apply_load(&mut self, load: &Load) {
        let mut by_labels: BTreeMap<Labels, Vec<(i64, Point)>> = self
            .series
            .iter()
            .map(|s| (s.labels.clone(), s.points.clone()))
            .collect();
        let mut this_load: BTreeMap<Labels, Vec<(i64, Point)>> = BTreeMap::new();
        for s in &load.series {
            let pts = points_of(&s.values, load.interval_ms);
            this_load.insert(s.labels.clone(), pts);
        }
        if load.with_nhcb {
            for (labels, pts) in nhcb_series(&this_load) {
                this_load.entry(labels).or_insert(pts);
            }
        }
        for (labels, pts) in this_load {
            let dst = by_labels.entry(labels).or_default();
            for (t, p) in pts {
                match dst.binary_search_by_key(&t, |(pt, _)| *pt) {
                    Ok(i) => dst[i] = (t, p),
                    Err(i) => dst.insert(i, (t, p)),
                }
            }
        }
        self.series = Arc::new(
            by_labels
                .into_iter()
                .filter(|(_, p)| !p.is_empty())
                .map(|(labels, points)| Arc::new(StoredSeries { labels, points }))
                .collect(),
        );
    }
}

fn points_of(values: &[SeqValue], interval_ms: i64) -> Vec<(i64, Point)> {
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let t = (i as i64).saturating_mul(interval_ms);
        match v {
            SeqValue::Omitted => {}
            SeqValue::Float(f) => out.push((t, Point::Float(*f))),
            SeqValue::Histogram => out.push((t, Point::Histogram)),
        }
    }
    out
}

/// `load_with_nhcb`: classic `_bucket`/`_count`/`_sum` series also yield a
/// custom-bucket native histogram series named after the base metric
/// (without `le`). Only the positions are kept (histograms are unsupported).
fn nhcb_series(load: &BTreeMap<Labels, Vec<(i64, Point)>>) -> BTreeMap<Labels, Vec<(i64, Point)>> {
    let mut out: BTreeMap<Labels, Vec<(i64, Point)>> = BTreeMap::new();
    for (labels, pts) in load {
        let Some(name) = labels.metric_name() else {
            continue;
        };
        let base = if let Some(b) = name.strip_suffix("_bucket") {
            match labels.get("le").map(str::parse::<f64>) {
                Some(Ok(le)) if !le.is_nan() => b,
                _ => continue,
            }
        } else if let Some(b) = name.strip_suffix("_count") {
            b
        } else if let Some(b) = name.strip_suffix("_sum") {
            b
        } else {
            continue;
        };
        let mut bld = labels.builder();
        bld.set(pharos_model::METRIC_NAME, base);
        bld.del("le");
        let dst = out.entry(bld.build()).or_default();
        for (t, p) in pts {
            if matches!(p, Point::Float(_)) && !dst.iter().any(|(dt, _)| dt == t) {
                dst.push((*t, Point::Histogram));
            }
        }
    }
    for pts in out.values_mut() {
        pts.sort_by_key(|(t, _)| *t);
    }
    out
}

impl Queryable for MemStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(MemQuerier {
            series: Arc::clone(&self.series),
            touched: Arc::clone(&self.touched),
            mint,
            maxt,
        }))
    }
}

struct MemQuerier {
    series: Arc<Vec<Arc<StoredSeries>>>,
    touched: Arc<AtomicBool>,
    mint: i64,
    maxt: i64,
}

impl MemQuerier {
    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
    ) -> impl Iterator<Item = &'a Arc<StoredSeries>> + 'a {
        self.series.iter().filter(move |s| {
            matchers
                .iter()
                .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
                && s.points
                    .iter()
                    .any(|(t, _)| *t >= self.mint && *t <= self.maxt)
        })
    }
}

struct MemSeries {
    series: Arc<StoredSeries>,
    mint: i64,
    maxt: i64,
}

impl Series for MemSeries {
    fn labels(&self) -> &Labels {
        &self.series.labels
    }

    fn samples(&self) -> Box<dyn Iterator<Item = Sample> + '_> {
        let (mint, maxt) = (self.mint, self.maxt);
        Box::new(self.series.points.iter().filter_map(move |(t, p)| match p {
            Point::Float(v) if *t >= mint && *t <= maxt => Some(Sample::new(*t, *v)),
            _ => None,
        }))
    }
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Box<dyn Series>>, StorageError> {
        let mut out: Vec<Box<dyn Series>> = Vec::new();
        for s in self.matching(matchers) {
            let hist = s
                .points
                .iter()
                .any(|(t, p)| *p == Point::Histogram && *t >= self.mint && *t <= self.maxt);
            if hist {
                self.touched.store(true, Ordering::Relaxed);
            }
            out.push(Box::new(MemSeries {
                series: Arc::clone(s),
                mint: self.mint,
                maxt: self.maxt,
            }));
        }
        Ok(out)
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self
            .matching(matchers)
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut vals: Vec<String> = self
            .matching(matchers)
            .filter_map(|s| s.labels.get(name).map(str::to_string))
            .collect();
        vals.sort();
        vals.dedup();
        Ok(vals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promqltest::format::{parse_file, Command};
    use pharos_model::MatchOp;

    fn storage(src: &str) -> MemStorage {
        let mut st = MemStorage::new();
        for c in parse_file(src).commands {
            match c {
                Command::Load(l) => st.apply_load(&l),
                Command::Clear => st.clear(),
                other => panic!("{other:?}"),
            }
        }
        st
    }

    fn select(
        st: &MemStorage,
        mint: i64,
        maxt: i64,
        ms: &[Matcher],
    ) -> Vec<(String, Vec<(i64, f64)>)> {
        let q = st.querier(mint, maxt).unwrap();
        q.select(ms)
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s.labels().to_string(),
                    s.samples().map(|x| (x.t, x.v)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn load_select_ranges() {
        let st = storage("load 1m\n  b{x=\"2\"} 1 _ 3\n  a 0+1x3\n\nload 1m\n  a _ _ _ _ 10\n");
        let all = select(&st, 0, 1_000_000, &[]);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, "a");
        assert_eq!(
            all[0].1,
            vec![
                (0, 0.0),
                (60_000, 1.0),
                (120_000, 2.0),
                (180_000, 3.0),
                (240_000, 10.0)
            ]
        );
        assert_eq!(all[1].1, vec![(0, 1.0), (120_000, 3.0)]);
        let m = Matcher::new(MatchOp::RegexMatch, "x", "2|3").unwrap();
        let one = select(&st, 60_000, 120_000, &[m]);
        assert_eq!(one, vec![(r#"b{x="2"}"#.to_string(), vec![(120_000, 3.0)])]);
        // No samples in range: not returned.
        assert!(select(&st, 300_000, 400_000, &[]).is_empty());
        let q = st.querier(0, i64::MAX).unwrap();
        assert_eq!(q.label_names(&[]).unwrap(), vec!["__name__", "x"]);
        assert_eq!(q.label_values("x", &[]).unwrap(), vec!["2"]);
    }

    #[test]
    fn clear_and_histograms() {
        let mut st = storage("load 1m\n  h {{schema:0 sum:1 count:1}} 5\n  f 1\n");
        assert!(!st.touched_histograms());
        let f = select(&st, 0, 0, &[Matcher::equal("__name__", "f")]);
        assert_eq!(f.len(), 1);
        assert!(!st.touched_histograms());
        let h = select(&st, 0, 60_000, &[Matcher::equal("__name__", "h")]);
        assert_eq!(h[0].1, vec![(60_000, 5.0)]);
        assert!(st.touched_histograms());
        st.reset_touched();
        let _ = select(&st, 60_000, 60_000, &[Matcher::equal("__name__", "h")]);
        assert!(!st.touched_histograms());
        st.clear();
        assert_eq!(st.series_count(), 0);
    }

    #[test]
    fn nhcb_derives_histogram_series() {
        let st = storage("load_with_nhcb 1m\n  m_bucket{le=\"1\"} 1 2\n  m_bucket{le=\"+Inf\"} 2 3\n  m_count 2 3\n");
        let _ = select(&st, 0, 60_000, &[Matcher::equal("__name__", "m")]);
        assert!(st.touched_histograms());
        assert_eq!(st.series_count(), 4);
    }
}
