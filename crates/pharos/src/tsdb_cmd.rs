//! `pharos tsdb analyze|dump`: offline inspection of the metrics store.

use crate::cli::TsdbCommand;

pub fn run(cmd: TsdbCommand) -> anyhow::Result<()> {
    match cmd {
        TsdbCommand::Analyze(a) => {
            let _lock = crate::lock::lock_data_dir(&a.data_dir)?;
            let target = match &a.block {
                Some(b) if b == "head" => pharos_tsdb::tools::AnalyzeTarget::Head,
                Some(b) => pharos_tsdb::tools::AnalyzeTarget::Block(b.clone()),
                None => pharos_tsdb::tools::AnalyzeTarget::Auto,
            };
            let report =
                pharos_tsdb::tools::analyze_dir(&a.data_dir.join("metrics"), &target, a.limit)?;
            print!("{report}");
            Ok(())
        }
        TsdbCommand::Dump(d) => {
            let _lock = crate::lock::lock_data_dir(&d.data_dir)?;
            let parse = |s: &Option<String>, def: i64| -> anyhow::Result<i64> {
                match s {
                    None => Ok(def),
                    Some(s) => pharos_api::timeparse::parse_time(s).map_err(|e| anyhow::anyhow!(e)),
                }
            };
            let mint = parse(&d.min_time, i64::MIN)?;
            let maxt = parse(&d.max_time, i64::MAX)?;
            let mut sets = Vec::new();
            for m in &d.matchers {
                sets.push(
                    pharos_api::selector::parse_selector(m)
                        .map_err(|e| anyhow::anyhow!("--match {m:?}: {e}"))?,
                );
            }
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if sets.is_empty() {
                sets.push(Vec::new());
            }
            let db = pharos_tsdb::Db::open(
                &d.data_dir.join("metrics"),
                pharos_tsdb::Options::default(),
            )?;
            for ms in &sets {
                pharos_tsdb::tools::dump(&db, mint, maxt, ms, &mut out)?;
            }
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
    }
}
