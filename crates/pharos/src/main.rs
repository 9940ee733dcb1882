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

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (the vendored
/// header of libmimalloc-sys 0.1.49, pinned by Cargo.lock).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc hands freed memory back to the OS 1 s after it goes unused by
/// default, and a purge, once due, takes every free range at once, however
/// recently freed. Ingest frees and reallocates request bodies and a head's
/// worth of segment buffers every few seconds, so each purge was followed by
/// page faults and kernel page zeroing on reuse: at 1 s that was 11% of ingest
/// CPU, at 10 s still about 29,000 page faults in a 768 MiB ingest, against
/// about 1,300 at 2 minutes (measured with perf). Two minutes keeps steady
/// work on warm pages and still returns memory once the process goes quiet.
/// `MIMALLOC_PURGE_DELAY` in the environment wins.
const PURGE_DELAY_MS: std::ffi::c_long = 120_000;

fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: mi_option_set only stores an integer option; it is safe to
    // call at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
}

fn main() -> std::process::ExitCode {
    tune_allocator();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // Option 15 starts at mimalloc 3's purge delay default of 1000 ms
        // (unless the environment sets it), and takes the value set.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reading and setting integer options.
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(before, 1000);
        tune_allocator();
        let after = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(after, PURGE_DELAY_MS);
    }
}
