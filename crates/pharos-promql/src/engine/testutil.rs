//! A small in-memory [`Queryable`] for the engine's unit tests.

use pharos_model::{
    Labels, Matcher, Querier, Queryable, Sample, Series, StorageError, METRIC_NAME,
};

/// Series held in memory.
#[derive(Default, Clone)]
pub(crate) struct MemStore {
    pub series: Vec<(Labels, Vec<Sample>)>,
}

impl MemStore {
    /// Adds a series from `name{a="b"}`-style pairs and `(seconds, value)` points.
    pub fn add(&mut self, pairs: &[(&str, &str)], pts: &[(i64, f64)]) {
        let labels = Labels::from_pairs(pairs);
        let samples = pts.iter().map(|&(t, v)| Sample::new(t * 1000, v)).collect();
        self.series.push((labels, samples));
        self.series.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Adds `name` with `pairs`, values `start, start+inc, ...` every `every_s` seconds from 0.
    pub fn add_seq(&mut self, name: &str, pairs: &[(&str, &str)], every_s: i64, vals: &[f64]) {
        let mut all = vec![(METRIC_NAME, name)];
        all.extend_from_slice(pairs);
        let pts: Vec<(i64, f64)> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 * every_s, *v))
            .collect();
        self.add(&all, &pts);
    }
}

struct MemSeries {
    labels: Labels,
    samples: Vec<Sample>,
}

impl Series for MemSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn samples(&self) -> Box<dyn Iterator<Item = Sample> + '_> {
        Box::new(self.samples.iter().copied())
    }
}

struct MemQuerier {
    series: Vec<(Labels, Vec<Sample>)>,
    mint: i64,
    maxt: i64,
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher]) -> Result<Vec<Box<dyn Series>>, StorageError> {
        let mut out: Vec<Box<dyn Series>> = Vec::new();
        for (l, s) in &self.series {
            if matchers
                .iter()
                .all(|m| m.matches(l.get(&m.name).unwrap_or("")))
            {
                let samples: Vec<Sample> = s
                    .iter()
                    .copied()
                    .filter(|p| p.t >= self.mint && p.t <= self.maxt)
                    .collect();
                out.push(Box::new(MemSeries {
                    labels: l.clone(),
                    samples,
                }));
            }
        }
        Ok(out)
    }
    fn label_names(&self, _m: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
    fn label_values(&self, _n: &str, _m: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

impl Queryable for MemStore {
    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(MemQuerier {
            series: self.series.clone(),
            mint,
            maxt,
        }))
    }
}
