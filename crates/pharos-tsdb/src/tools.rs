//! Operator tools over a store: [`analyze`] (cardinality and chunk statistics,
//! printed like `promtool tsdb analyze`) and [`dump`] (samples as text, like
//! `promtool tsdb dump`). The CLI (`pharos tsdb analyze|dump`) wires these;
//! this module knows nothing of argument parsing.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use pharos_model::{Matcher, Queryable, METRIC_NAME};

use crate::index::IndexReader;
use crate::{Db, DbError, Options};

/// What [`analyze`] looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AnalyzeTarget {
    /// The head if it holds samples, else the newest block.
    #[default]
    Auto,
    Head,
    Block(String),
}

/// Cardinality and chunk statistics of the head or one block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalyzeReport {
    /// `"head"` or the block id.
    pub source: String,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    pub series: u64,
    pub label_names: u64,
    /// Unique label pairs.
    pub postings: u64,
    /// Total label pairs over all series.
    pub postings_entries: u64,
    pub chunks: u64,
    pub samples: u64,
    pub chunk_bytes: u64,
    /// Label names with the most series.
    pub label_names_by_series: Vec<(String, u64)>,
    /// Label pairs with the most series.
    pub common_label_pairs: Vec<(String, u64)>,
    /// Label names with the most distinct values.
    pub highest_cardinality_labels: Vec<(String, u64)>,
    /// Metric names with the most series.
    pub highest_cardinality_metric_names: Vec<(String, u64)>,
}

impl AnalyzeReport {
    pub fn avg_samples_per_chunk(&self) -> f64 {
        ratio(self.samples, self.chunks)
    }
    pub fn avg_bytes_per_chunk(&self) -> f64 {
        ratio(self.chunk_bytes, self.chunks)
    }
    pub fn bytes_per_sample(&self) -> f64 {
        ratio(self.chunk_bytes, self.samples)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn top(mut v: Vec<(String, u64)>, n: usize) -> Vec<(String, u64)> {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

fn fill_cardinality(r: &mut AnalyzeReport, ix: &dyn IndexReader, n: usize) {
    let mut names: Vec<String> = Vec::new();
    ix.for_each_name(&mut |name| {
        names.push(name.to_string());
        true
    });
    let mut by_series = Vec::new();
    let mut pairs = Vec::new();
    let mut card = Vec::new();
    let mut metric_names = Vec::new();
    for name in &names {
        let mut series = 0u64;
        let mut values = 0u64;
        ix.for_each_value(name, &mut |v, p| {
            let c = p.len();
            series += c;
            values += 1;
            pairs.push((format!("{name}={v}"), c));
            if name == METRIC_NAME {
                metric_names.push((v.to_string(), c));
            }
        });
        r.postings += values;
        r.postings_entries += series;
        by_series.push((name.clone(), series));
        card.push((name.clone(), values));
    }
    r.label_names = names.len() as u64;
    r.series = ix.all_postings().len();
    r.label_names_by_series = top(by_series, n);
    r.common_label_pairs = top(pairs, n);
    r.highest_cardinality_labels = top(card, n);
    r.highest_cardinality_metric_names = top(metric_names, n);
}

/// Analyzes the head or a block of an open store, keeping the top `n` of each list.
pub fn analyze(db: &Db, target: &AnalyzeTarget, n: usize) -> Result<AnalyzeReport, DbError> {
    let head = db.head();
    let use_head = match target {
        AnalyzeTarget::Head => true,
        AnalyzeTarget::Auto => {
            head.counters
                .samples
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
        }
        AnalyzeTarget::Block(_) => false,
    };
    let mut r = AnalyzeReport::default();
    if use_head {
        r.source = "head".into();
        let st = db.stats();
        r.min_time = st.head_min_time;
        r.max_time = st.head_max_time;
        fill_cardinality(&mut r, &*head.index.read(), n);
        for s in head.all_series() {
            let d = s.data.lock();
            for c in &d.closed {
                r.chunks += 1;
                r.samples += c.samples() as u64;
                r.chunk_bytes += c.data.len() as u64;
            }
            if let Some(c) = d.open.as_ref().filter(|c| !c.is_empty()) {
                r.chunks += 1;
                r.samples += c.num_samples() as u64;
                r.chunk_bytes += c.size_bytes() as u64;
            }
        }
        return Ok(r);
    }
    let blocks = db.block_list();
    let block = match target {
        AnalyzeTarget::Block(id) => blocks.iter().find(|b| &b.meta.id == id),
        _ => blocks.iter().max_by_key(|b| b.meta.max_time),
    };
    let Some(b) = block else {
        return Err(DbError::InvalidOptions(match target {
            AnalyzeTarget::Block(id) => format!("no block with id {id}"),
            _ => "the store holds no data".into(),
        }));
    };
    r.source = b.meta.id.clone();
    r.min_time = Some(b.meta.min_time);
    r.max_time = Some(b.meta.max_time);
    fill_cardinality(&mut r, &**b, n);
    let (mut labels, mut metas) = (Vec::new(), Vec::new());
    for id in 0..b.num_series() as u32 {
        if b.series(id, &mut labels, &mut metas).is_ok() {
            for m in &metas {
                r.chunks += 1;
                r.samples += u64::from(m.samples);
                r.chunk_bytes += u64::from(m.len);
            }
        }
    }
    Ok(r)
}

/// Opens the store in `dir` (replaying its WAL) and analyzes it.
pub fn analyze_dir(dir: &Path, target: &AnalyzeTarget, n: usize) -> Result<AnalyzeReport, DbError> {
    let db = Db::open(dir, Options::default())?;
    analyze(&db, target, n)
}

fn fmt_duration(ms: i64) -> String {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let s = rest as f64 / 1000.0;
    format!("{h}h{m}m{s}s")
}

impl fmt::Display for AnalyzeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.source == "head" {
            writeln!(f, "Block ID: head")?;
        } else {
            writeln!(f, "Block ID: {}", self.source)?;
        }
        if let (Some(a), Some(b)) = (self.min_time, self.max_time) {
            writeln!(f, "Duration: {}", fmt_duration(b - a))?;
        }
        writeln!(f, "Series: {}", self.series)?;
        writeln!(f, "Label names: {}", self.label_names)?;
        writeln!(f, "Postings (unique label pairs): {}", self.postings)?;
        writeln!(
            f,
            "Postings entries (total label pairs): {}",
            self.postings_entries
        )?;
        writeln!(f, "Chunks: {}", self.chunks)?;
        writeln!(f, "Samples: {}", self.samples)?;
        writeln!(
            f,
            "Average samples per chunk: {:.1}",
            self.avg_samples_per_chunk()
        )?;
        writeln!(
            f,
            "Average bytes per chunk: {:.1}",
            self.avg_bytes_per_chunk()
        )?;
        writeln!(f, "Bytes per sample: {:.3}", self.bytes_per_sample())?;
        let list = |f: &mut fmt::Formatter<'_>, title: &str, v: &[(String, u64)]| -> fmt::Result {
            writeln!(f, "\n{title}:")?;
            for (k, n) in v {
                writeln!(f, "{n} {k}")?;
            }
            Ok(())
        };
        list(
            f,
            "Label names most involved in series",
            &self.label_names_by_series,
        )?;
        list(f, "Most common label pairs", &self.common_label_pairs)?;
        list(
            f,
            "Highest cardinality labels",
            &self.highest_cardinality_labels,
        )?;
        list(
            f,
            "Highest cardinality metric names",
            &self.highest_cardinality_metric_names,
        )
    }
}

/// Formats a float like Go's `%g` (what `promtool tsdb dump` prints).
pub fn format_go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-4..21).contains(&exp) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                let digits = if digits.len() < 2 {
                    format!("0{digits}")
                } else {
                    digits.to_string()
                };
                format!("{m}e{sign}{digits}")
            }
            None => s,
        }
    } else {
        format!("{v}")
    }
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes every sample of the series matching `matchers` in `[mint, maxt]`
/// as `{name="value", ...} value timestamp` lines, series in label order;
/// returns the number of samples written.
pub fn dump(
    db: &Db,
    mint: i64,
    maxt: i64,
    matchers: &[Matcher],
    out: &mut dyn Write,
) -> Result<u64, DbError> {
    let io_err = |e: io::Error| DbError::Io {
        path: db.dir().to_path_buf(),
        source: e,
    };
    let q = db
        .querier(mint, maxt)
        .map_err(|e| io_err(io::Error::other(e.to_string())))?;
    let all;
    let ms = if matchers.is_empty() {
        all = [
            Matcher::new(pharos_model::MatchOp::RegexMatch, METRIC_NAME, ".*")
                .map_err(|e| io_err(io::Error::other(e.to_string())))?,
        ];
        &all[..]
    } else {
        matchers
    };
    let series = q
        .select(ms)
        .map_err(|e| io_err(io::Error::other(e.to_string())))?;
    let mut n = 0u64;
    let mut line = String::new();
    for s in series {
        let mut prefix = String::from("{");
        for (i, l) in s.labels().iter().enumerate() {
            if i > 0 {
                prefix.push_str(", ");
            }
            prefix.push_str(&l.name);
            prefix.push_str("=\"");
            escape(&l.value, &mut prefix);
            prefix.push('"');
        }
        prefix.push('}');
        for x in s.samples() {
            line.clear();
            line.push_str(&prefix);
            line.push(' ');
            // Staleness markers print as `StaleNaN` so they can be told from other NaNs.
            if pharos_model::is_stale_nan(x.v) {
                line.push_str("StaleNaN");
            } else {
                line.push_str(&format_go_float(x.v));
            }
            line.push(' ');
            line.push_str(&x.t.to_string());
            line.push('\n');
            out.write_all(line.as_bytes()).map_err(io_err)?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_floats() {
        assert_eq!(format_go_float(1.0), "1");
        assert_eq!(format_go_float(0.5), "0.5");
        assert_eq!(format_go_float(1e21), "1e+21");
        assert_eq!(format_go_float(1.5e-7), "1.5e-07");
        assert_eq!(format_go_float(123456.0), "123456");
        assert_eq!(format_go_float(f64::INFINITY), "+Inf");
        assert_eq!(format_go_float(f64::NAN), "NaN");
    }
}
