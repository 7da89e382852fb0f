//! `abreast bench`: runs the example job and micro-benchmarks with every mechanism and shows,
//! side by side, which one wins for which work.
//!
//! Suites: `fetch` (I/O-bound: pages behind latency, then raw throughput), `cpu` (CPU-bound:
//! extraction from large pages, and a pure compute task), `overhead` (per-task cost and the
//! memory of waiting coroutines), and `all`. Each case is run `--warmup` times unmeasured, then
//! `--runs` times; rows show the median with the minimum and maximum, as hyperfine does. One
//! [`report::Report`] feeds the terminal table, the JSON lines, every exporter and the chart.

mod chart;
mod cpu;
mod export;
mod fetch;
mod memory;
mod overhead;
mod python;
mod report;
mod stats;
mod tasks;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;

use report::{Report, Row, SuiteReport};

/// Arguments of `abreast bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which suite to run.
    #[arg(value_enum, default_value_t = SuiteName::All)]
    suite: SuiteName,
    /// Unmeasured runs of each case before the measured ones.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Measured runs of each case.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Also run the explainer's Python programs on the same work (needs python3; requests and
    /// aiohttp for the fetch rows).
    #[arg(long)]
    with_python: bool,
    /// Print one JSON object per row on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Write the report as JSON to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    export_json: Option<PathBuf>,
    /// Write the report as Markdown tables to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    export_markdown: Option<PathBuf>,
    /// Write the report as CSV to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    export_csv: Option<PathBuf>,
    /// Draw the comparison as an SVG chart in FILE.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    #[command(flatten)]
    sizes: Sizes,
}

/// The sizes of the work; the defaults keep `abreast bench` within a minute on 2 cores.
#[derive(Debug, Clone, Args)]
pub struct Sizes {
    /// fetch: pages fetched behind latency.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub pages: u64,
    /// fetch: the test site's latency per response.
    #[arg(long, default_value = "50ms", value_parser = crate::fetch::parse_duration)]
    pub latency: Duration,
    /// fetch and cpu: size of each page.
    #[arg(long, default_value = "64K", value_parser = crate::fetch::parse_size)]
    pub page_size: u64,
    /// fetch: pages fetched with no added latency, for raw throughput (0 skips this part).
    #[arg(long, default_value_t = 2000)]
    pub throughput_pages: u64,
    /// cpu: pages whose metadata is extracted.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub cpu_pages: u64,
    /// cpu: compute tasks (each sums the squares of 0..square_size).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub square_tasks: u64,
    /// cpu: numbers per compute task.
    #[arg(long, default_value_t = 2_000_000)]
    pub square_size: u64,
    /// overhead: trivial tasks per run of each case.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub tasks: u64,
    /// overhead: coroutines kept waiting at once for the memory case.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub waiting: u64,
    /// Worker threads or processes for CPU work (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl Sizes {
    /// The worker count `--threads` gave, if it gave one (each mechanism's default otherwise).
    pub fn threads_given(&self) -> Option<usize> {
        (self.threads > 0).then_some(self.threads)
    }

    /// Workers for CPU-bound rows.
    pub fn cpu_workers(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }
    }
}

/// The suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SuiteName {
    /// I/O-bound: many pages behind latency, and raw throughput.
    Fetch,
    /// CPU-bound: metadata extraction from large pages, and a pure compute task.
    Cpu,
    /// Per-task cost of each mechanism on trivial tasks, and the memory of waiting coroutines.
    Overhead,
    /// Every suite.
    All,
}

/// What every suite needs: the repetition counts and the Python programs, if asked for.
pub struct Bench {
    /// Unmeasured runs.
    pub warmup: u64,
    /// Measured runs.
    pub runs: u64,
    /// The interpreter, or why the Python rows are skipped; `None` without `--with-python`.
    pub python: Option<Result<python::Python, python::Skip>>,
    /// Progress on stderr.
    pub progress: indicatif::ProgressBar,
}

impl Bench {
    /// Runs `case` `warmup` times, then `runs` times, and returns the measured wall times in
    /// seconds. `case` returns an error when a run did not do all its work.
    pub fn time(
        &self,
        label: &str,
        mut case: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<f64>> {
        self.progress.set_message(label.to_owned());
        for _ in 0..self.warmup {
            case().with_context(|| format!("{label} failed in its warm-up"))?;
        }
        let mut seconds = Vec::with_capacity(self.runs as usize);
        for _ in 0..self.runs {
            let start = Instant::now();
            case().with_context(|| format!("{label} failed"))?;
            seconds.push(start.elapsed().as_secs_f64());
        }
        self.progress.inc(1);
        Ok(seconds)
    }

    /// A timed row: the case's wall times and the peak memory of this process and its worker
    /// processes while it ran.
    pub fn row(
        &self,
        mechanism: report::Mechanism,
        workers: usize,
        tasks: u64,
        label: &str,
        case: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Row> {
        let peak = memory::PeakTracker::start();
        let seconds = self.time(label, case)?;
        Ok(Row::timed(
            mechanism,
            report::Implementation::Rust,
            workers,
            tasks,
            &seconds,
        )
        .expect("runs >= 1")
        .with_peak_memory(peak.finish()))
    }

    /// Measures a Python case, or gives its skipped row; `None` without `--with-python`.
    pub fn python_row(&self, case: &python::PythonCase, timeout: Duration) -> Option<Row> {
        let python = self.python.as_ref()?;
        self.progress
            .set_message(format!("python {}", case.mechanism.name()));
        let row = match python {
            Err(skip) => case.skipped_row(skip.to_string()),
            // No warm-up for Python: its slowest programs take many seconds a run.
            Ok(python) => python.measure(case, 0, self.runs, timeout),
        };
        self.progress.inc(1);
        Some(row)
    }
}

/// One line of `--json`: a row with its suite and per-task figures.
#[derive(Debug, Serialize)]
struct JsonRow<'a> {
    suite: &'a str,
    mechanism: &'a str,
    implementation: report::Implementation,
    op: Option<&'a str>,
    workers: usize,
    tasks: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    us_per_task: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    median_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    throughput: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_memory_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_per_task: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
}

fn json_row<'a>(suite: &'a SuiteReport, row: &'a Row) -> JsonRow<'a> {
    let wall = row.wall.as_ref();
    JsonRow {
        suite: &suite.name,
        mechanism: row.mechanism.name(),
        implementation: row.implementation,
        op: row.variant.as_deref(),
        workers: row.workers,
        tasks: row.tasks,
        us_per_task: wall.map(|w| w.median * 1e6 / row.tasks as f64),
        median_s: wall.map(|w| w.median),
        min_s: wall.map(|w| w.min),
        max_s: wall.map(|w| w.max),
        throughput: row.throughput,
        peak_memory_bytes: row.peak_memory_bytes,
        bytes_per_task: overhead::bytes_per_task(row),
        note: row.note.as_deref(),
    }
}

/// Runs the chosen suites and prints the report.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let suites: Vec<SuiteName> = match args.suite {
        SuiteName::All => vec![SuiteName::Fetch, SuiteName::Cpu, SuiteName::Overhead],
        one => vec![one],
    };
    let bench = Bench {
        warmup: args.warmup,
        runs: args.runs,
        python: args.with_python.then(python::Python::find),
        progress: crate::progress::bar(None, "bench"),
    };
    match &bench.python {
        Some(Err(skip)) => eprintln!("abreast bench: Python rows {skip}"),
        Some(Ok(python)) => eprintln!("abreast bench: Python rows with {}", python.version()),
        None => {}
    }
    let mut report = Report::new(args.warmup, args.runs);
    for suite in suites {
        bench
            .progress
            .set_prefix(format!("bench {suite:?}").to_lowercase());
        let measured = match suite {
            SuiteName::Fetch => fetch::suites(&bench, &args.sizes)?,
            SuiteName::Cpu => cpu::suites(&bench, &args.sizes)?,
            SuiteName::Overhead => {
                // Startup first: a fork from a process whose heap the memory case grew is slower.
                let startup = overhead::startup(&bench)?;
                vec![overhead::suite(&bench, &args.sizes)?, startup]
            }
            SuiteName::All => unreachable!("expanded above"),
        };
        report.suites.extend(measured);
    }
    bench.progress.finish_and_clear();
    if args.json {
        for suite in &report.suites {
            for row in &suite.rows {
                println!("{}", serde_json::to_string(&json_row(suite, row))?);
            }
        }
    } else {
        print!("{}", report.render_text());
    }
    if let Some(path) = &args.export_json {
        export::export_json(&report, path)?;
    }
    if let Some(path) = &args.export_markdown {
        export::export_markdown(&report, path)?;
    }
    if let Some(path) = &args.export_csv {
        export::export_csv(&report, path)?;
    }
    if let Some(path) = &args.chart {
        chart::export_svg(&report, path)?;
    }
    Ok(ExitCode::SUCCESS)
}
