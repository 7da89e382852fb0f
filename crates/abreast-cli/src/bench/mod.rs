//! `abreast bench`: measures the mechanisms side by side and prints a table or JSON lines.

// The report, its exporters, the chart and the Python programs: wired in by the suites.
#[allow(dead_code)]
mod chart;
#[allow(dead_code)]
mod export;
mod overhead;
#[allow(dead_code)]
mod python;
#[allow(dead_code)]
mod report;
mod stats;

use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Arguments of `abreast bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    suite: Suite,
}

#[derive(Debug, Subcommand)]
enum Suite {
    /// Per-task cost of each mechanism on trivial tasks, and the memory of waiting coroutines.
    Overhead(overhead::OverheadArgs),
}

/// Runs the chosen suite.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    match &args.suite {
        Suite::Overhead(overhead) => overhead::run(overhead),
    }
}
