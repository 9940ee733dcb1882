//! `pharos promqltest FILE...`: runs Prometheus's promqltest files against
//! pharos's PromQL parser and engine and reports pass counts.
//!
//! Output: one line per file (`PASS|FAIL <file>: <passed>/<total> evals`),
//! with `--verbose` each failing eval (file:line, query, reason), and a
//! closing line `N passed, N failed` counting evals across all files.
//! `--prometheus-compat 2.42` runs them with Prometheus 2.42's semantics
//! (engine and runner) instead of the latest ones.

use std::io::Write;

use pharos_promql::promqltest::run::{run_file, PharosBackend};

use crate::cli::PromqltestArgs;

/// Runs the files; `Ok(true)` when the run counts as a success.
pub fn run(args: PromqltestArgs) -> anyhow::Result<bool> {
    if let Some(r) = args.min_pass_ratio {
        if !(0.0..=1.0).contains(&r) {
            anyhow::bail!("--min-pass-ratio must be between 0 and 1, got {r}");
        }
    }
    let backend = PharosBackend::new(args.prometheus_compat);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in &args.files {
        let report = run_file(&backend, path);
        let verdict = if report.failed() == 0 { "PASS" } else { "FAIL" };
        writeln!(
            out,
            "{verdict} {}: {}/{} evals",
            report.name,
            report.passed(),
            report.total()
        )?;
        if args.verbose {
            for f in report.failures() {
                let why = f.failure.as_deref().unwrap_or("");
                if f.expr.is_empty() {
                    writeln!(out, "  {}:{}: {why}", report.name, f.line)?;
                } else {
                    writeln!(out, "  {}:{}: {}\n    {why}", report.name, f.line, f.expr)?;
                }
            }
        }
        passed += report.passed();
        failed += report.failed();
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    out.flush()?;
    let total = passed + failed;
    Ok(match args.min_pass_ratio {
        Some(r) => total > 0 && passed as f64 >= r * total as f64,
        None => failed == 0,
    })
}
