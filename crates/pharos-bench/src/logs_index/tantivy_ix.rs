//! The tantivy variant of `logs-index` (only with `--features tantivy`): one
//! tantivy index per segment, one document per line.
//!
//! Schema: `line`, a text field indexed with the default tokenizer (split at
//! every character that is not alphanumeric, tokens of 40 bytes or more
//! dropped, lowercased) with `IndexRecordOption::Basic` (doc ids only, no
//! frequencies or positions), no field norms (they serve scoring only), not
//! stored; `group`, the row group within the segment, a u64 fast field.
//! Indexed by one writer thread with a 1 GiB budget and no merge policy;
//! after the commit, the segments (if the budget cut more than one) are
//! merged into one and unused files deleted. The size is every file of the
//! index directory.
//!
//! A lookup opens each segment's index (`Index::open_in_dir`, a reader with
//! manual reload, a searcher: counted as the open time), runs the query
//! collecting every matching document, and reads each one's `group`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tantivy::collector::DocSetCollector;
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{Query, RegexQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions};
use tantivy::{Index, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use super::{cpu_seconds, log, measure, Corpus, Layout, Lookup, Needle, Shape, Variant, MIB};

/// Memory budget of the single indexing thread.
const WRITER_BUDGET: usize = 1 << 30;

/// `s` with every character that is not alphanumeric escaped for a regex.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for ch in s.chars() {
        if !ch.is_alphanumeric() {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn dir_files(dir: &Path) -> anyhow::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let md = e.metadata()?;
        if md.is_file() {
            out.push((e.file_name().to_string_lossy().into_owned(), md.len()));
        }
    }
    Ok(out)
}

/// The extension of a tantivy file (`idx`, `term`, `fast`, ...), or its name.
fn kind(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((_, ext)) if !ext.is_empty() => ext.to_string(),
        _ => name.to_string(),
    }
}

/// Builds one index per segment under `root` and measures the queries.
pub fn variant(
    c: &Corpus,
    l: &Layout,
    needles: &[Needle],
    repeat: usize,
    ticks: u64,
    root: &Path,
) -> anyhow::Result<Variant> {
    let mut sb = Schema::builder();
    let line_f = sb.add_text_field(
        "line",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("default")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        ),
    );
    let group_f = sb.add_u64_field("group", NumericOptions::default().set_fast());
    let schema = sb.build();

    let cpu0 = cpu_seconds(ticks)?;
    let t0 = Instant::now();
    let mut dirs: Vec<PathBuf> = Vec::with_capacity(l.segments.len());
    let mut cut_segments = 0usize;
    let mut merge_s = 0.0;
    let mut lossy = 0usize;
    for (si, seg) in l.segments.iter().enumerate() {
        let dir = root.join(format!("seg-{si:05}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let index = Index::create_in_dir(&dir, schema.clone())?;
        let mut w: IndexWriter<TantivyDocument> =
            index.writer_with_num_threads(1, WRITER_BUDGET)?;
        w.set_merge_policy(Box::new(NoMergePolicy));
        for (gi, g) in seg.clone().enumerate() {
            for line in l.group_lines(c, g) {
                let text = match std::str::from_utf8(line) {
                    Ok(s) => std::borrow::Cow::Borrowed(s),
                    Err(_) => {
                        lossy += 1;
                        String::from_utf8_lossy(line)
                    }
                };
                let mut d = TantivyDocument::new();
                d.add_text(line_f, &*text);
                d.add_u64(group_f, gi as u64);
                w.add_document(d)?;
            }
        }
        w.commit()?;
        let ids = index.searchable_segment_ids()?;
        cut_segments += ids.len();
        if ids.len() > 1 {
            let m = Instant::now();
            w.merge(&ids).wait()?;
            merge_s += m.elapsed().as_secs_f64();
        }
        w.garbage_collect_files().wait()?;
        w.wait_merging_threads()?;
        dirs.push(dir);
    }
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds(ticks)? - cpu0;

    let mut index_bytes = 0u64;
    let mut by_kind: std::collections::BTreeMap<String, u64> = Default::default();
    for d in &dirs {
        for (name, len) in dir_files(d)? {
            index_bytes += len;
            *by_kind.entry(kind(&name)).or_default() += len;
        }
    }
    log(format!(
        "tantivy: {:.1} CPU-s, {:.1} MiB; looking up",
        cpu_s,
        index_bytes as f64 / MIB
    ));

    let queries = measure(
        needles,
        repeat,
        |shape| match shape {
            Shape::Whole => "TermQuery on the lowercased needle".to_string(),
            Shape::Substring => {
                "RegexQuery .*<lowercased substring>.* over the term dictionary".to_string()
            }
        },
        |n, shape| {
            let t = Instant::now();
            let mut prep = Duration::ZERO;
            let mut groups = Vec::new();
            for (dir, seg) in dirs.iter().zip(&l.segments) {
                let o = Instant::now();
                let index = Index::open_in_dir(dir)?;
                let reader = index
                    .reader_builder()
                    .reload_policy(ReloadPolicy::Manual)
                    .try_into()?;
                let searcher = reader.searcher();
                prep += o.elapsed();
                let field = index.schema().get_field("line")?;
                let query: Box<dyn Query> = match shape {
                    Shape::Whole => Box::new(TermQuery::new(
                        Term::from_field_text(field, &n.token.to_lowercase()),
                        IndexRecordOption::Basic,
                    )),
                    Shape::Substring => Box::new(RegexQuery::from_pattern(
                        &format!(".*{}.*", regex_escape(&n.sub.to_lowercase())),
                        field,
                    )?),
                };
                let docs = searcher.search(&*query, &DocSetCollector)?;
                let mut hit = vec![false; seg.len()];
                let mut cols: Vec<Option<tantivy::columnar::Column<u64>>> =
                    vec![None; searcher.segment_readers().len()];
                for addr in docs {
                    let ord = addr.segment_ord as usize;
                    if cols[ord].is_none() {
                        cols[ord] = Some(
                            searcher
                                .segment_reader(addr.segment_ord)
                                .fast_fields()
                                .u64("group")?,
                        );
                    }
                    if let Some(g) = cols[ord].as_ref().and_then(|col| col.first(addr.doc_id)) {
                        if let Some(h) = hit.get_mut(g as usize) {
                            *h = true;
                        }
                    }
                }
                groups.extend(
                    hit.iter()
                        .enumerate()
                        .filter(|(_, &h)| h)
                        .map(|(i, _)| (seg.start + i) as u32),
                );
            }
            Ok(Lookup {
                total: t.elapsed(),
                prep,
                read_bytes: None,
                groups,
            })
        },
    )?;
    let mut notes = vec![
        format!(
            "{} tantivy segments written for {} indexes before merging ({:.1}s of merging); text field Basic, no field norms, nothing stored",
            cut_segments,
            dirs.len(),
            merge_s
        ),
        format!(
            "bytes by file kind: {}",
            by_kind
                .iter()
                .map(|(k, v)| format!("{k} {:.2} MiB", *v as f64 / MIB))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "queries use the lowercased needle (the default tokenizer lowercases), so they match case-insensitively".to_string(),
    ];
    if lossy > 0 {
        notes.push(format!(
            "{lossy} lines were not UTF-8 and were indexed lossily"
        ));
    }
    Ok(Variant {
        name: "tantivy",
        cpu_s,
        wall_s,
        index_bytes,
        detail: json!({
            "indexes": dirs.len(),
            "segments_before_merge": cut_segments,
            "merge_seconds": merge_s,
            "writer_threads": 1,
            "writer_budget_bytes": WRITER_BUDGET,
            "bytes_by_kind": by_kind,
            "tantivy_version": "0.24",
        }),
        queries,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::tiny;
    use super::super::{pick_needles, process};
    use super::*;

    #[test]
    fn finds_exactly_the_groups_of_the_needles() {
        let (c, l) = tiny();
        let ns: Vec<Needle> = pick_needles(&c, 3, 1)
            .expect("needles")
            .iter()
            .map(|t| Needle::find(&c, &l, t))
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let v = variant(&c, &l, &ns, 2, process::clock_ticks(), dir.path()).expect("tantivy");
        assert!(v.index_bytes > 0);
        assert_eq!(v.queries.len(), 6);
        for q in &v.queries {
            assert_eq!(q.groups, ns[q.needle].truth(q.shape), "{}", q.how);
        }
    }

    #[test]
    fn escapes_and_kinds() {
        assert_eq!(regex_escape("ab1"), "ab1");
        assert_eq!(regex_escape("a.b"), "a\\.b");
        assert_eq!(kind("abc.idx"), "idx");
        assert_eq!(kind("meta.json"), "json");
        assert_eq!(kind(".managed.json"), "json");
        assert_eq!(kind("noext"), "noext");
    }
}
