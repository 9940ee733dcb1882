//! An in-memory [`Queryable`] holding what the `load` commands wrote.
//!
//! Series are kept sorted by labels. Float samples are served by
//! [`Series::samples`], native histograms by [`Series::histograms`].
//!
//! The reference runner writes into a real TSDB and reads back what its
//! chunks return, which is not always what was written: the counter-reset
//! hint of a histogram is derived from the chunk it lands in. This storage
//! replays the chunk-cutting decisions of Prometheus's float histogram
//! appender (`tsdb/chunkenc/float_histogram.go`) to hand out the same hints:
//!
//! - a gauge histogram reads back as a gauge;
//! - the first histogram of a chunk reads back as `Unknown`, whatever the
//!   chunk header says (Prometheus ≥ 3.0 does not trust it); a chunk is cut
//!   when a counter reset is detected or a histogram carries an explicit
//!   `reset` hint, on a schema or zero-threshold change, between gauge and
//!   counter histograms, and a float sample (or the start of the series)
//!   before a histogram always starts a new chunk;
//! - every later histogram of a chunk reads back as `NotCounterReset`;
//! - a stale marker after a histogram is stored as a stale histogram (a
//!   histogram whose sum is the stale NaN) and ends the chunk for the next
//!   non-stale histogram.
//!
//! Chunks the TSDB cuts for their size in bytes are not modelled (see
//! [`read_back`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use pharos_model::histogram::{
    BucketIter, CounterResetHint, FloatHistogram, Span, CUSTOM_BUCKETS_SCHEMA,
};
use pharos_model::{
    is_stale_nan, Labels, Matcher, Querier, Queryable, Sample, Series, StorageError, STALE_NAN,
};

use super::format::Load;
use super::load::SeqValue;

/// One stored point: a float, or a native histogram (as written).
#[derive(Debug, Clone, PartialEq)]
enum Point {
    Float(f64),
    Histogram(Box<FloatHistogram>),
}

#[derive(Debug, Default)]
struct StoredSeries {
    labels: Labels,
    /// As written: ascending by time, unique times.
    points: Vec<(i64, Point)>,
    /// What a read returns: the float samples ...
    floats: Vec<Sample>,
    /// ... and the histograms, as the TSDB would give them back.
    hists: Vec<(i64, FloatHistogram)>,
}

impl StoredSeries {
    fn new(labels: Labels, points: Vec<(i64, Point)>) -> StoredSeries {
        let (floats, hists) = read_back(&points);
        StoredSeries {
            labels,
            points,
            floats,
            hists,
        }
    }

    fn has_point_in(&self, mint: i64, maxt: i64) -> bool {
        self.points.iter().any(|(t, _)| *t >= mint && *t <= maxt)
    }
}

/// The test storage.
#[derive(Debug, Default)]
pub struct MemStorage {
    series: Arc<Vec<Arc<StoredSeries>>>,
}

impl MemStorage {
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Drops all data (`clear`).
    pub fn clear(&mut self) {
        self.series = Arc::new(Vec::new());
    }

    /// Number of stored series.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Applies a `load` command: value i of each series lands at
    /// i × interval. A later line for the same series within one load
    /// replaces the earlier one; later loads add to earlier data (a point
    /// at an existing time overwrites it). `load_with_nhcb` also writes the
    /// custom-bucket histograms converted from classic histogram series.
    ///
    /// Fails (and stores nothing of this load, as the reference rolls the
    /// append back) when the classic histograms cannot be converted.
    pub fn apply_load(&mut self, load: &Load) -> Result<(), String> {
        let mut this_load: BTreeMap<Labels, Vec<(i64, Point)>> = BTreeMap::new();
        for s in &load.series {
            let pts = points_of(&s.values, load.interval_ms);
            this_load.insert(s.labels.clone(), pts);
        }
        if load.with_nhcb {
            for (labels, pts) in nhcb_series(&this_load)? {
                let dst = this_load.entry(labels).or_default();
                for (t, p) in pts {
                    if let Err(i) = dst.binary_search_by_key(&t, |(pt, _)| *pt) {
                        dst.insert(i, (t, p));
                    }
                }
            }
        }
        let mut by_labels: BTreeMap<Labels, Arc<StoredSeries>> = self
            .series
            .iter()
            .map(|s| (s.labels.clone(), Arc::clone(s)))
            .collect();
        for (labels, pts) in this_load {
            if pts.is_empty() {
                continue;
            }
            let mut merged = by_labels
                .get(&labels)
                .map(|s| s.points.clone())
                .unwrap_or_default();
            for (t, p) in pts {
                match merged.binary_search_by_key(&t, |(pt, _)| *pt) {
                    Ok(i) => merged[i] = (t, p),
                    Err(i) => merged.insert(i, (t, p)),
                }
            }
            by_labels.insert(labels.clone(), Arc::new(StoredSeries::new(labels, merged)));
        }
        self.series = Arc::new(by_labels.into_values().collect());
        Ok(())
    }
}

fn points_of(values: &[SeqValue], interval_ms: i64) -> Vec<(i64, Point)> {
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let t = (i as i64).saturating_mul(interval_ms);
        match v {
            SeqValue::Omitted => {}
            SeqValue::Float(f) => out.push((t, Point::Float(*f))),
            SeqValue::Histogram { h, .. } => out.push((t, Point::Histogram(h.clone()))),
        }
    }
    out
}

/// The counter-reset header of a histogram chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkHeader {
    Unknown,
    CounterReset,
    Gauge,
}

/// The histogram chunk being appended to.
struct HistChunk {
    header: ChunkHeader,
    /// The last histogram appended (a stale one keeps only its sum).
    last: FloatHistogram,
}

/// What reading a series back from Prometheus's TSDB returns: the float
/// samples, and the histograms with the counter-reset hints their chunks
/// give them (see the module documentation).
///
/// Not modelled: the TSDB also cuts a histogram chunk when it grows past
/// about 1 KiB or crosses a 24h chunk range; the first histogram of such a
/// chunk reads back as `Unknown` rather than `NotCounterReset`. Only long
/// histogram series are affected.
fn read_back(points: &[(i64, Point)]) -> (Vec<Sample>, Vec<(i64, FloatHistogram)>) {
    let mut floats = Vec::new();
    let mut hists = Vec::new();
    let mut chunk: Option<HistChunk> = None;
    // Position of the last appended histogram within its chunk.
    let mut pos = 0usize;
    for (t, p) in points {
        let h: FloatHistogram = match p {
            Point::Float(v) if is_stale_nan(*v) && chunk.is_some() => FloatHistogram {
                sum: STALE_NAN,
                ..FloatHistogram::default()
            },
            Point::Float(v) => {
                chunk = None;
                floats.push(Sample::new(*t, *v));
                continue;
            }
            Point::Histogram(h) => (**h).clone(),
        };
        let stale = h.is_stale();
        let stored = if stale {
            FloatHistogram {
                sum: h.sum,
                ..FloatHistogram::default()
            }
        } else {
            h
        };
        let cut = match &chunk {
            None => Some(match stored.counter_reset_hint {
                CounterResetHint::Gauge => ChunkHeader::Gauge,
                CounterResetHint::CounterReset => ChunkHeader::CounterReset,
                _ => ChunkHeader::Unknown,
            }),
            Some(c) if stored.counter_reset_hint == CounterResetHint::Gauge => {
                (!appendable_gauge(c, &stored)).then_some(ChunkHeader::Gauge)
            }
            Some(c) => match appendable(c, &stored) {
                Appendable::Ok => None,
                Appendable::NewChunk => Some(ChunkHeader::Unknown),
                Appendable::CounterReset => Some(ChunkHeader::CounterReset),
            },
        };
        match cut {
            Some(header) => {
                chunk = Some(HistChunk {
                    header,
                    last: stored.clone(),
                });
                pos = 0;
            }
            None => {
                if let Some(c) = chunk.as_mut() {
                    c.last = stored.clone();
                }
                pos += 1;
            }
        }
        let header = chunk.as_ref().map_or(ChunkHeader::Unknown, |c| c.header);
        let mut out = stored;
        if stale {
            out.counter_reset_hint = CounterResetHint::Unknown;
        } else {
            // Since Prometheus 3.0 (prometheus#15343) the first histogram of
            // a counter chunk reads back as `Unknown` even when the chunk was
            // cut for a counter reset: a chunk's header cannot be trusted to
            // follow the chunk before it (prometheus#15346).
            out.counter_reset_hint = match header {
                ChunkHeader::Gauge => CounterResetHint::Gauge,
                _ if pos > 0 => CounterResetHint::NotCounterReset,
                ChunkHeader::CounterReset | ChunkHeader::Unknown => CounterResetHint::Unknown,
            };
        }
        hists.push((*t, out));
    }
    (floats, hists)
}

enum Appendable {
    Ok,
    /// Not appendable, without a counter reset (e.g. a schema change).
    NewChunk,
    CounterReset,
}

/// `FloatHistogramAppender.appendable` for a non-gauge histogram.
fn appendable(c: &HistChunk, h: &FloatHistogram) -> Appendable {
    let a = &c.last;
    if c.header == ChunkHeader::Gauge {
        return Appendable::NewChunk;
    }
    if h.counter_reset_hint == CounterResetHint::CounterReset {
        return Appendable::CounterReset;
    }
    if h.is_stale() {
        return Appendable::Ok;
    }
    if a.is_stale() {
        return Appendable::NewChunk;
    }
    if h.count < a.count {
        return Appendable::CounterReset;
    }
    if h.schema != a.schema || h.zero_threshold != a.zero_threshold {
        return Appendable::NewChunk;
    }
    if h.schema == CUSTOM_BUCKETS_SCHEMA && h.custom_values != a.custom_values {
        return Appendable::CounterReset;
    }
    if h.zero_count < a.zero_count {
        return Appendable::CounterReset;
    }
    if bucket_reset(a.positive_buckets(), h.positive_buckets())
        || bucket_reset(a.negative_buckets(), h.negative_buckets())
    {
        return Appendable::CounterReset;
    }
    Appendable::Ok
}

/// `FloatHistogramAppender.appendableGauge`.
fn appendable_gauge(c: &HistChunk, h: &FloatHistogram) -> bool {
    let a = &c.last;
    if c.header != ChunkHeader::Gauge {
        return false;
    }
    if h.is_stale() {
        return true;
    }
    if a.is_stale() {
        return false;
    }
    if h.schema != a.schema || h.zero_threshold != a.zero_threshold {
        return false;
    }
    !(h.schema == CUSTOM_BUCKETS_SCHEMA && h.custom_values != a.custom_values)
}

/// Whether going from buckets `a` to buckets `b` (one side of two histograms
/// of the same schema) is a counter reset: a bucket of `a` in use is missing
/// from `b`, or its count went down (`expandFloatSpansAndBuckets`).
fn bucket_reset(a: BucketIter<'_>, b: BucketIter<'_>) -> bool {
    let bmap: BTreeMap<i32, f64> = b.map(|bk| (bk.index, bk.count)).collect();
    a.into_iter().any(|ak| match bmap.get(&ak.index) {
        Some(bc) => ak.count > *bc,
        None => ak.count != 0.0,
    })
}

/// Collects the classic histogram samples of one base series at one time,
/// as Prometheus's `convertnhcb.TempHistogram` does.
#[derive(Debug, Default, Clone)]
struct TempHistogram {
    /// (upper bound, cumulative count), ascending by bound.
    buckets: Vec<(f64, f64)>,
    count: f64,
    sum: f64,
    has_count: bool,
    err: Option<String>,
}

impl TempHistogram {
    fn set_bucket_count(&mut self, le: f64, count: f64) {
        if self.err.is_some() {
            return;
        }
        if le.is_nan() {
            self.err = Some("bucket boundary must not be NaN".into());
            return;
        }
        if count < 0.0 {
            self.err = Some(format!(
                "bucket count must be non-negative: le={le}, count={count}"
            ));
            return;
        }
        let i = self.buckets.partition_point(|(b, _)| *b < le);
        if i < self.buckets.len() && self.buckets[i].0 == le {
            // A duplicate bound (e.g. `0.2` and `2e-1`): the first one wins.
            return;
        }
        if i > 0 && count < self.buckets[i - 1].1 {
            self.err = Some(format!(
                "count is not cumulative: {count} < {}",
                self.buckets[i - 1].1
            ));
            return;
        }
        if i < self.buckets.len() && count > self.buckets[i].1 {
            self.err = Some(format!(
                "count is not cumulative: {count} > {}",
                self.buckets[i].1
            ));
            return;
        }
        self.buckets.insert(i, (le, count));
    }

    fn set_count(&mut self, count: f64) {
        if self.err.is_some() {
            return;
        }
        if count < 0.0 {
            self.err = Some(format!("count must be non-negative: count={count}"));
            return;
        }
        self.count = count;
        self.has_count = true;
    }

    fn set_sum(&mut self, sum: f64) {
        if self.err.is_none() {
            self.sum = sum;
        }
    }

    /// `TempHistogram.Convert`, then to a float histogram.
    fn convert(mut self) -> Result<FloatHistogram, String> {
        if let Some(e) = self.err {
            return Err(e);
        }
        if !self.has_count {
            match self.buckets.last() {
                Some((_, c)) => self.count = *c,
                None => return Err("count must be provided when no buckets are present".into()),
            }
        }
        if self
            .buckets
            .last()
            .is_none_or(|(le, _)| *le != f64::INFINITY)
        {
            self.buckets.push((f64::INFINITY, self.count));
        }
        let integral = |v: f64| v == v.round();
        let all_int = self.buckets.iter().all(|(_, c)| integral(*c)) && integral(self.count);
        let last = self.buckets.last().map_or(0.0, |(_, c)| *c);
        if self.count != last {
            return Err(format!(
                "count mismatch: count={} != le=+Inf count={last}",
                self.count
            ));
        }
        let mut prev = 0.0;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        let mut custom_values = Vec::with_capacity(self.buckets.len());
        for (le, c) in &self.buckets {
            buckets.push(c - prev);
            prev = *c;
            if *le != f64::INFINITY {
                custom_values.push(*le);
            }
        }
        let mut h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: self.count,
            sum: self.sum,
            positive_spans: vec![Span::new(0, buckets.len() as u32)],
            positive_buckets: buckets,
            custom_values,
            ..FloatHistogram::default()
        };
        // Integer counts become an integer histogram (compacted keeping
        // runs of up to two empty buckets) that the TSDB reads as floats.
        h.compact(if all_int { 2 } else { 0 });
        Ok(h)
    }
}

/// `load_with_nhcb`: the classic `_bucket` (with a numeric `le`), `_count`
/// and `_sum` series of the load also yield, at each of their timestamps, a
/// custom-bucket native histogram of the base series (name without the
/// suffix, no `le`). The classic series are kept too.
fn nhcb_series(
    load: &BTreeMap<Labels, Vec<(i64, Point)>>,
) -> Result<BTreeMap<Labels, Vec<(i64, Point)>>, String> {
    let mut temp: BTreeMap<Labels, BTreeMap<i64, TempHistogram>> = BTreeMap::new();
    for (labels, pts) in load {
        let Some(name) = labels.metric_name() else {
            continue;
        };
        enum Part {
            Bucket(f64),
            Count,
            Sum,
        }
        let (part, base) = if let Some(b) = name.strip_suffix("_bucket") {
            match labels.get("le").map(parse_go_float) {
                Some(Some(le)) if !le.is_nan() => (Part::Bucket(le), b),
                _ => continue,
            }
        } else if let Some(b) = name.strip_suffix("_sum") {
            (Part::Sum, b)
        } else if let Some(b) = name.strip_suffix("_count") {
            (Part::Count, b)
        } else {
            continue;
        };
        let mut bld = labels.builder();
        bld.set(pharos_model::METRIC_NAME, base);
        bld.del("le");
        let by_t = temp.entry(bld.build()).or_default();
        for (t, p) in pts {
            let Point::Float(v) = p else { continue };
            let th = by_t.entry(*t).or_default();
            match part {
                Part::Bucket(le) => th.set_bucket_count(le, *v),
                Part::Count => th.set_count(*v),
                Part::Sum => th.set_sum(*v),
            }
        }
    }
    let mut out = BTreeMap::new();
    for (labels, by_t) in temp {
        let mut pts = Vec::with_capacity(by_t.len());
        for (t, th) in by_t {
            let h = th
                .convert()
                .map_err(|e| format!("converting classic histogram {labels} at t={t}ms: {e}"))?;
            pts.push((t, Point::Histogram(Box::new(h))));
        }
        out.insert(labels, pts);
    }
    Ok(out)
}

/// Go's `strconv.ParseFloat` for label values such as `+Inf`, `.2`, `1e0`.
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.replace('_', "");
    if t != s && !s.contains(['x', 'X']) {
        // Underscores are only allowed with a base prefix.
        return None;
    }
    t.parse::<f64>().ok()
}

impl Queryable for MemStorage {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(MemQuerier {
            series: Arc::clone(&self.series),
            mint,
            maxt,
        }))
    }
}

struct MemQuerier {
    series: Arc<Vec<Arc<StoredSeries>>>,
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
                && s.has_point_in(self.mint, self.maxt)
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
        Box::new(
            self.series
                .floats
                .iter()
                .filter(move |s| s.t >= mint && s.t <= maxt)
                .copied(),
        )
    }

    fn histograms(&self) -> Box<dyn Iterator<Item = (i64, FloatHistogram)> + '_> {
        let (mint, maxt) = (self.mint, self.maxt);
        Box::new(
            self.series
                .hists
                .iter()
                .filter(move |(t, _)| *t >= mint && *t <= maxt)
                .cloned(),
        )
    }
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Box<dyn Series>>, StorageError> {
        Ok(self
            .matching(matchers)
            .map(|s| {
                Box::new(MemSeries {
                    series: Arc::clone(s),
                    mint: self.mint,
                    maxt: self.maxt,
                }) as Box<dyn Series>
            })
            .collect())
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
                Command::Load(l) => st.apply_load(&l).unwrap(),
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

    fn hists(st: &MemStorage, mint: i64, maxt: i64, name: &str) -> Vec<(i64, FloatHistogram)> {
        let q = st.querier(mint, maxt).unwrap();
        let sel = q.select(&[Matcher::equal("__name__", name)]).unwrap();
        assert_eq!(sel.len(), 1, "{name}");
        let out = sel[0].histograms().collect();
        out
    }

    fn hints(st: &MemStorage, name: &str) -> Vec<CounterResetHint> {
        hists(st, 0, i64::MAX, name)
            .into_iter()
            .map(|(_, h)| h.counter_reset_hint)
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
    fn histograms_are_served_apart_from_floats() {
        let mut st = storage(
            "load 1m\n  h {{schema:0 sum:1 count:1 buckets:[1]}} 5 {{sum:2 count:2}}\n  f 1\n",
        );
        let h = select(&st, 0, 120_000, &[Matcher::equal("__name__", "h")]);
        assert_eq!(h[0].1, vec![(60_000, 5.0)]);
        let hs = hists(&st, 0, 120_000, "h");
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[0].0, 0);
        assert_eq!(hs[0].1.sum, 1.0);
        assert_eq!(hs[0].1.positive_buckets, vec![1.0]);
        assert_eq!(hs[1].0, 120_000);
        // The querier's range applies to histograms too.
        assert_eq!(hists(&st, 60_000, 120_000, "h").len(), 1);
        // A series with only histograms in range is selected.
        let q = st.querier(100_000, 130_000).unwrap();
        assert_eq!(
            q.select(&[Matcher::equal("__name__", "h")]).unwrap().len(),
            1
        );
        st.clear();
        assert_eq!(st.series_count(), 0);
    }

    #[test]
    fn counter_reset_hints_as_read_back() {
        use CounterResetHint::*;
        let st = storage(concat!(
            "load 1m\n",
            "  c {{sum:1 count:1}} {{sum:2 count:2}} {{sum:1 count:1}} {{sum:3 count:3}}\n",
            "  g {{sum:1 count:1 counter_reset_hint:gauge}}x2\n",
            "  r {{sum:1 count:1}} {{sum:2 count:2 counter_reset_hint:reset}} {{sum:3 count:3}}\n",
            "  s {{sum:1 count:1}} stale {{sum:2 count:2}} {{sum:3 count:3}}\n",
            "  f {{sum:1 count:1}} 7 {{sum:2 count:2}} {{sum:3 count:3}}\n",
            "  b {{buckets:[1 2] count:3}} {{buckets:[2] count:3}} {{buckets:[2 2] offset:-1 count:4}}\n",
            "  m {{schema:0 sum:1 count:1}} {{schema:1 sum:2 count:2}} {{schema:1 sum:3 count:3}}\n",
            "  x {{sum:1 count:1 counter_reset_hint:reset}} {{sum:2 count:2 counter_reset_hint:not_reset}}\n",
        ));
        // A reset starts a chunk, whose first histogram reads back as Unknown.
        assert_eq!(
            hints(&st, "c"),
            vec![Unknown, NotCounterReset, Unknown, NotCounterReset]
        );
        assert_eq!(hints(&st, "g"), vec![Gauge, Gauge, Gauge]);
        assert_eq!(hints(&st, "r"), vec![Unknown, Unknown, NotCounterReset]);
        // The stale marker after a histogram is a stale histogram.
        let s = hists(&st, 0, i64::MAX, "s");
        assert_eq!(s.len(), 4);
        assert!(s[1].1.is_stale());
        assert_eq!(
            hints(&st, "s"),
            vec![Unknown, Unknown, Unknown, NotCounterReset]
        );
        assert_eq!(hints(&st, "f"), vec![Unknown, Unknown, NotCounterReset]);
        // Bucket 1 disappearing is a reset; a new bucket is not.
        assert_eq!(hints(&st, "b"), vec![Unknown, Unknown, NotCounterReset]);
        // A schema change cuts a chunk without a reset.
        assert_eq!(hints(&st, "m"), vec![Unknown, Unknown, NotCounterReset]);
        assert_eq!(hints(&st, "x"), vec![Unknown, NotCounterReset]);
    }

    #[test]
    fn nhcb_derives_histogram_series() {
        let st = storage(concat!(
            "load_with_nhcb 1m\n",
            "  m_bucket{le=\"1\"} 1 2\n",
            "  m_bucket{le=\"1e0\"} 1 2\n",
            "  m_bucket{le=\"+Inf\"} 2 3\n",
            "  m_count 2 3\n",
            "  m_sum 5 8\n",
            "  n_bucket{le=\"0.5\"} 1.5\n",
            "  n_bucket{le=\"1\"} 2.5\n",
        ));
        // m_bucket x3, m_count, m_sum, m, n_bucket x2, n.
        assert_eq!(st.series_count(), 9);
        let m = hists(&st, 0, i64::MAX, "m");
        assert_eq!(m.len(), 2);
        let h = &m[1].1;
        assert_eq!(h.schema, CUSTOM_BUCKETS_SCHEMA);
        assert_eq!(h.custom_values, vec![1.0]);
        assert_eq!(h.positive_buckets, vec![2.0, 1.0]);
        assert_eq!((h.count, h.sum), (3.0, 8.0));
        assert_eq!(h.counter_reset_hint, CounterResetHint::NotCounterReset);
        // No +Inf bucket and no count: the highest bucket gives both.
        let n = hists(&st, 0, i64::MAX, "n");
        assert_eq!(n[0].1.count, 2.5);
        assert_eq!(n[0].1.custom_values, vec![0.5, 1.0]);
        // The classic series stay.
        assert_eq!(
            select(&st, 0, 0, &[Matcher::equal("__name__", "m_count")]).len(),
            1
        );
    }

    #[test]
    fn nhcb_conversion_errors_fail_the_load() {
        let f = parse_file("load_with_nhcb 1m\n  m_bucket{le=\"1\"} 5\n  m_bucket{le=\"2\"} 3\n");
        let Command::Load(l) = &f.commands[0] else {
            panic!()
        };
        let mut st = MemStorage::new();
        let err = st.apply_load(l).unwrap_err();
        assert!(err.contains("not cumulative"), "{err}");
        assert_eq!(st.series_count(), 0);
    }
}
