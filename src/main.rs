//! The `golive` binary: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of glibc malloc: it gives freed memory back to the system after a short decay
/// and does not grow an arena per thread, so the daemon's RSS follows what it holds (BENCHMARKS.md,
/// "Probing cost"). Only the daemon binary; the library's unit tests run on the system allocator.
#[cfg(unix)]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    golive::cli::execute(golive::cli::Cli::parse())
}
