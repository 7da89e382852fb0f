//! abreast-bench measures abreast's mechanisms side by side on the same work and reports which
//! one wins for which work: the library behind `abreast bench`.
//!
//! # Suites
//!
//! [`SuiteName::Fetch`] is the example job, I/O-bound: every fetch mode (and, with the Python
//! programs, the explainer's three) fetches the same pages, first behind latency, then with none;
//! a `curl -Z` row, where curl is installed, shows what a plain client spends on the same pages.
//! With [`Sizes::tls_hosts`], the fetch suites run over HTTPS across that many host names instead,
//! with the test site's CA and name server (`fetch-tls-hosts`, `fetch-tls-one-host`,
//! `fetch-tls-latency`), and each row notes the connections and DNS queries the site counted.
//! [`SuiteName::Cpu`] is CPU-bound: metadata extraction from pages in memory, and a pure compute
//! task. [`SuiteName::Overhead`] is the per-task cost of each operation, the memory of waiting
//! coroutines, and the time from creating a pool to its first result.
//!
//! Each case runs [`Bench::warmup`] times unmeasured, then [`Bench::runs`] times; a row holds the
//! median with the minimum and maximum of the wall time and of the CPU time, as hyperfine does.
//!
//! # Report
//!
//! [`run`] returns one [`Report`] that feeds the terminal table ([`Report::render_text`]), the
//! JSON lines ([`json_rows`]), every exporter ([`export`]) and the chart ([`chart`]).
//!
//! ```no_run
//! use abreast_bench::{Bench, NoProgress, Sizes, SuiteName};
//! let bench = Bench::new(1, 3);
//! let report = abreast_bench::run(&bench, &[SuiteName::Overhead], &Sizes::default(), &NoProgress)?;
//! print!("{}", report.render_text());
//! # Ok::<(), abreast_bench::BenchError>(())
//! ```
//!
//! # Process-pool tasks
//!
//! The process-pool rows run tasks registered with `#[abreast::task]` in this crate; a binary
//! that runs them must let workers start (the `abreast` crate's default `auto-init` feature does,
//! or `abreast::processes::init()` first in `main`).
#![deny(missing_docs)]

pub mod chart;
mod cpu;
pub mod cputime;
mod curl;
mod error;
pub mod export;
mod fetch;
mod https;
pub mod memory;
mod overhead;
pub mod python;
pub mod report;
mod stats;
mod tasks;

use std::time::{Duration, Instant};

use anyhow::Context as _;

pub use error::BenchError;
pub use export::{JsonRow, json_rows};
pub use report::{Implementation, Machine, Mechanism, Report, Row, SuiteReport, WallTime};
pub use stats::Stats;

use cputime::{CpuClock, ThreadClocks};

/// The sizes of the work; [`Sizes::default`] keeps a whole `abreast bench` run within a minute
/// on 2 cores.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizes {
    /// fetch: pages fetched behind latency.
    pub pages: u64,
    /// fetch: the test site's latency per response.
    pub latency: Duration,
    /// fetch and cpu: the size of each page in bytes.
    pub page_size: u64,
    /// fetch: pages fetched with no added latency, for raw throughput (0 skips this part).
    pub throughput_pages: u64,
    /// fetch: measure against this server instead of the built-in test site. Page `I` is
    /// `{base}/page/{I}` for `I` below [`Sizes::pages`] (a trailing `/` on the base is dropped);
    /// see [`page_urls`]. The latency and throughput parts become one part, as the server is.
    pub base_url: Option<String>,
    /// fetch: run the HTTPS suites across this many host names instead of the plain ones
    /// (`abreast bench fetch --tls --hosts N`).
    pub tls_hosts: Option<u64>,
    /// fetch with [`Sizes::tls_hosts`]: pages of the parts with no added latency.
    pub tls_pages: u64,
    /// cpu: pages whose metadata is extracted.
    pub cpu_pages: u64,
    /// cpu: compute tasks (each sums the squares below a number); 0 means four per CPU.
    pub square_tasks: u64,
    /// cpu: the numbers each compute task sums the squares below (about 20 ms each on a
    /// current core).
    pub square_size: u64,
    /// overhead: trivial tasks per run of each case.
    pub tasks: u64,
    /// overhead: coroutines kept waiting at once for the memory case.
    pub waiting: u64,
    /// Worker threads or processes for CPU work (0: one per CPU).
    pub threads: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes {
            pages: 1000,
            latency: Duration::from_millis(50),
            page_size: 64 * 1024,
            throughput_pages: 2000,
            base_url: None,
            tls_hosts: None,
            tls_pages: 5000,
            cpu_pages: 1000,
            square_tasks: 0,
            square_size: 25_000_000,
            tasks: 200_000,
            waiting: 1_000_000,
            threads: 0,
        }
    }
}

impl Sizes {
    /// The worker count [`Sizes::threads`] gave, if it gave one (each mechanism's default
    /// otherwise).
    pub fn threads_given(&self) -> Option<usize> {
        (self.threads > 0).then_some(self.threads)
    }

    /// Workers for CPU-bound rows: [`Sizes::threads`], or one per CPU.
    pub fn cpu_workers(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }
    }

    /// Compute tasks of the cpu-compute suite: [`Sizes::square_tasks`], or four per worker.
    pub fn compute_tasks(&self) -> u64 {
        if self.square_tasks > 0 {
            self.square_tasks
        } else {
            4 * self.cpu_workers() as u64
        }
    }
}

/// The URLs of pages `0..pages` under `base`: `{base}/page/{I}`, one per line. A trailing `/`
/// on `base` is dropped, so `http://127.0.0.1:8080` and `http://127.0.0.1:8080/` name the same
/// pages, and a server that keeps them under a folder is named with it
/// (`http://host/abreast/` gives `http://host/abreast/page/0`).
pub fn page_urls(base: &str, pages: u64) -> String {
    let base = base.trim_end_matches('/');
    (0..pages).map(|n| format!("{base}/page/{n}\n")).collect()
}

/// The suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteName {
    /// I/O-bound: many pages behind latency, and raw throughput (`fetch`, `fetch-throughput`).
    Fetch,
    /// CPU-bound: metadata extraction from large pages, and a pure compute task (`cpu`,
    /// `cpu-compute`).
    Cpu,
    /// Per-task cost of each mechanism on trivial tasks, the memory of waiting coroutines, and
    /// start-up (`overhead`, `startup`).
    Overhead,
    /// Every suite.
    All,
}

/// What a bench run reports as it goes, for a progress bar; every method has a default that
/// does nothing.
pub trait Progress {
    /// A suite starts.
    fn suite(&self, _name: &str) {}
    /// A case (one row) starts.
    fn case(&self, _label: &str) {}
    /// The case that started last is done.
    fn case_done(&self) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// How every suite measures: the repetition counts and the reference programs to run beside
/// abreast.
#[derive(Debug)]
pub struct Bench {
    /// Unmeasured runs of each case before the measured ones.
    pub warmup: u64,
    /// Measured runs of each case (at least 1).
    pub runs: u64,
    /// The Python interpreter, or why its rows are skipped; `None`: no Python rows.
    pub python: Option<Result<python::Python, python::Skip>>,
    /// Whether the fetch suites add a `curl -Z` reference row (skipped with a note where curl
    /// is not installed) and the `async no extraction` row that does the same work.
    pub curl: bool,
}

impl Bench {
    /// Abreast's rows only, with the curl reference row where curl is installed.
    pub fn new(warmup: u64, runs: u64) -> Bench {
        Bench {
            warmup,
            runs: runs.max(1),
            python: None,
            curl: true,
        }
    }

    /// Adds the Python rows, with the interpreter [`python::Python::find`] finds (builder style).
    pub fn with_python(mut self) -> Bench {
        self.python = Some(python::Python::find());
        self
    }
}

/// What the suites measure with: the bench's settings and where progress goes.
struct Timing<'a> {
    bench: &'a Bench,
    progress: &'a dyn Progress,
}

/// The wall and CPU seconds of each measured run of a case.
#[derive(Debug, Default)]
struct Measured {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    server_cpu: Vec<f64>,
}

impl Timing<'_> {
    /// Whether the suites add the Python programs' rows.
    fn python_rows(&self) -> bool {
        self.bench.python.is_some()
    }

    /// Times `case`; `excluded` are the threads whose CPU is not the case's (the in-process
    /// server's): their CPU goes to `server_cpu` instead.
    fn time(
        &self,
        label: &str,
        excluded: Option<&ThreadClocks>,
        sampler: Option<&memory::TreeSampler>,
        mut case: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Measured> {
        for _ in 0..self.bench.warmup {
            case().with_context(|| format!("{label} failed in its warm-up"))?;
        }
        let mut measured = Measured::default();
        for _ in 0..self.bench.runs {
            let clock = CpuClock::start(excluded, sampler.and_then(|s| s.cpu_clock()));
            let start = Instant::now();
            case().with_context(|| format!("{label} failed"))?;
            measured.wall.push(start.elapsed().as_secs_f64());
            let cpu = clock.finish();
            if let Some(seconds) = cpu.case {
                measured.cpu.push(seconds);
            }
            if let Some(seconds) = cpu.excluded {
                measured.server_cpu.push(seconds);
            }
        }
        Ok(measured)
    }

    /// A timed row: the case's wall and CPU times and the peak memory of this process and its
    /// worker processes while it ran.
    fn row(
        &self,
        mechanism: Mechanism,
        workers: usize,
        tasks: u64,
        label: &str,
        case: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Row> {
        self.row_beside(None, mechanism, workers, tasks, label, case)
    }

    /// As [`Timing::row`], with the CPU of the threads `server` (an in-process server's)
    /// reported apart from the case's.
    fn row_beside(
        &self,
        server: Option<&ThreadClocks>,
        mechanism: Mechanism,
        workers: usize,
        tasks: u64,
        label: &str,
        case: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Row> {
        self.progress.case(label);
        let peak = memory::PeakTracker::start();
        let measured = self.time(label, server, Some(peak.sampler()), case)?;
        self.progress.case_done();
        Ok(Row::timed(
            mechanism,
            Implementation::Rust,
            workers,
            tasks,
            &measured.wall,
        )
        .context("no timed runs")?
        .with_cpu(&measured.cpu)
        .with_server_cpu(&measured.server_cpu)
        .with_peak_memory(peak.finish()))
    }

    /// Measures a Python case, or gives its skipped row; `None` without Python rows.
    fn python_row(&self, case: &python::PythonCase, timeout: Duration) -> Option<Row> {
        let python = self.bench.python.as_ref()?;
        self.progress
            .case(&format!("python {}", case.mechanism.name()));
        let row = match python {
            Err(skip) => case.skipped_row(skip.to_string()),
            // No warm-up for Python: its slowest programs take many seconds a run.
            Ok(python) => python.measure(case, 0, self.bench.runs, timeout),
        };
        self.progress.case_done();
        Some(row)
    }
}

/// Runs `suites` (in order; [`SuiteName::All`] is every suite) with the sizes `sizes`, and
/// returns the report.
///
/// # Errors
///
/// [`BenchError::Case`] when a case fails or does not do all its work (a fetch that did not get
/// every page, a sum that came out wrong), or when a pool, the test site or a temporary folder
/// cannot be made; its cause names the case. A Python program that fails gives a row with a
/// `failed:` note instead, and a missing program or module a `skipped:` one, as does curl where
/// it is not installed.
pub fn run(
    bench: &Bench,
    suites: &[SuiteName],
    sizes: &Sizes,
    progress: &dyn Progress,
) -> Result<Report, BenchError> {
    let mut expanded = Vec::new();
    for &suite in suites {
        match suite {
            SuiteName::All => {
                expanded.extend([SuiteName::Fetch, SuiteName::Cpu, SuiteName::Overhead]);
            }
            one => expanded.push(one),
        }
    }
    let timing = Timing { bench, progress };
    let mut report = Report::new(bench.warmup, bench.runs);
    for suite in expanded {
        let measured = match suite {
            SuiteName::Fetch => {
                progress.suite("fetch");
                match sizes.tls_hosts {
                    Some(hosts) => https::suites(&timing, sizes, hosts),
                    None => fetch::suites(&timing, sizes),
                }
            }
            SuiteName::Cpu => {
                progress.suite("cpu");
                cpu::suites(&timing, sizes)
            }
            SuiteName::Overhead => {
                progress.suite("overhead");
                // Startup first: a fork from a process whose heap the memory case grew is slower.
                overhead::startup(&timing)
                    .and_then(|startup| Ok(vec![overhead::suite(&timing, sizes)?, startup]))
            }
            SuiteName::All => unreachable!("expanded above"),
        };
        report
            .suites
            .extend(measured.map_err(BenchError::from_run)?);
    }
    Ok(report)
}
