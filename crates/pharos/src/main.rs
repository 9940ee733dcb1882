//! The pharos binary: command line, configuration loading and the wiring of
//! components. It holds no logic of its own: storage lives in `pharos-tsdb`,
//! scraping in `pharos-scrape`, protocols in `pharos-ingest`, servers in
//! `pharos-api`.

mod cli;
mod config;
mod lock;
mod logs_cmd;
mod promqltest_cmd;
mod query_cmd;
mod serve;
mod tsdb_cmd;

use clap::Parser;

/// mimalloc: the ingest path allocates and frees many small buffers per
/// request; measured faster than the system allocator (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(*args),
        cli::Command::Tsdb(cmd) => tsdb_cmd::run(cmd),
        cli::Command::Query(args) => query_cmd::run(args),
        cli::Command::Logs(args) => logs_cmd::run(args),
        cli::Command::Promqltest(args) => match promqltest_cmd::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => return std::process::ExitCode::FAILURE,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pharos: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
