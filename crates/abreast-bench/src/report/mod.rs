//! The one report of a bench run: what was measured, on which machine, and how to read it.
//!
//! Every suite (`fetch`, `cpu`, `overhead`) fills a [`SuiteReport`] with one [`Row`] per
//! mechanism it ran; the [`Report`] gathers them with a description of the machine. The report
//! derives `Serialize` and `Deserialize`, so every exporter (JSON, Markdown, CSV, the SVG chart)
//! reads the same data, and tests can load a fixed report from JSON.
//!
//! Names follow the one word list of the design: a row's `mechanism` is `threads`, `async`,
//! `processes` or `hybrid`, plus `sequential` for a baseline that runs one task after another
//! (the explainer's synchronous version). Python rows keep the same mechanism names and say
//! `implementation: "python"` instead of `"rust"`, so "threads" means the same thing in both; the
//! fetch suites' reference row says `implementation: "curl"` (curl's multi interface is one event
//! loop, so its mechanism is `async`).
//!
//! This module is the model: the report, its suites and rows, and the words they use. Its
//! `text` part renders it for people (the terminal tables, the summary lines, the human units),
//! and [`crate::export`] writes it as JSON, JSON lines, Markdown and CSV.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::stats::Stats;

mod text;

pub use text::{Align, Column, format_bytes, format_rate, format_seconds};

/// A whole `abreast bench` run: the machine, the settings, and one report per suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The version of abreast that measured this.
    pub abreast_version: String,
    /// The machine the measurements were taken on.
    pub machine: Machine,
    /// When the run started, RFC 3339 in UTC; absent in fixed reports such as test snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Untimed warm-up runs before the timed runs of each row.
    pub warmup: u64,
    /// Timed runs per row.
    pub runs: u64,
    /// One report per suite, in the order they ran.
    pub suites: Vec<SuiteReport>,
}

impl Report {
    /// An empty report for this build on this machine, stamped with the current time.
    pub fn new(warmup: u64, runs: u64) -> Report {
        Report {
            abreast_version: env!("CARGO_PKG_VERSION").to_owned(),
            machine: Machine::detect(),
            started_at: Some(
                humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            ),
            warmup,
            runs,
            suites: Vec::new(),
        }
    }
}

/// The machine a report was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub cpus: usize,
    /// The operating system, as Rust names it (`linux`, `macos`, …).
    pub os: String,
    /// The CPU architecture, as Rust names it (`x86_64`, `aarch64`, …).
    pub arch: String,
    /// The CPU's model name, where the system says (Linux: `/proc/cpuinfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// Total memory in bytes, where the system says (Linux: `/proc/meminfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
}

impl Machine {
    /// Describes the machine this process runs on.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            cpu_model: field_value(&cpuinfo, "model name").map(str::to_owned),
            memory_bytes: field_value(&meminfo, "MemTotal")
                .and_then(|value| value.strip_suffix(" kB"))
                .and_then(|kib| kib.trim().parse::<u64>().ok())
                .map(|kib| kib * 1024),
        }
    }
}

/// The value of the first `name: value` line of a `/proc` file.
fn field_value<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}, {} CPUs", self.os, self.arch, self.cpus)?;
        if let Some(model) = &self.cpu_model {
            write!(f, " ({model})")?;
        }
        if let Some(bytes) = self.memory_bytes {
            write!(f, ", {} memory", format_bytes(bytes))?;
        }
        Ok(())
    }
}

/// The rows of one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteReport {
    /// `fetch`, `cpu` or `overhead`.
    pub name: String,
    /// What the suite measures, in one sentence (for example "1000 pages behind 50 ms latency").
    pub description: String,
    /// The unit of work a task is, plural (`pages`, `tasks`): throughput is this per second.
    pub unit: String,
    /// One row per mechanism and variant measured, in the order they ran.
    pub rows: Vec<Row>,
}

impl SuiteReport {
    /// The row labels, made unique within the suite: where two rows share a label, the worker
    /// count is added (`threads ×64`).
    pub fn labels(&self) -> Vec<String> {
        let plain: Vec<String> = self.rows.iter().map(Row::label).collect();
        plain
            .iter()
            .zip(&self.rows)
            .map(|(label, row)| {
                if plain.iter().filter(|other| *other == label).count() > 1 {
                    format!("{label} ×{}", row.workers)
                } else {
                    label.clone()
                }
            })
            .collect()
    }
}

/// One mechanism (or one variant of it) measured in one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The mechanism: `threads`, `async`, `processes`, `hybrid`, or the `sequential` baseline.
    pub mechanism: Mechanism,
    /// Which program ran it: abreast (`rust`) or the explainer's Python program (`python`).
    pub implementation: Implementation,
    /// What distinguishes rows of the same mechanism, for example `map` or `submit+join` in
    /// the overhead suite, or `regex` and `squares` in the cpu suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Worker threads, worker processes, or concurrent coroutines.
    pub workers: usize,
    /// Tasks (units of work) per run.
    pub tasks: u64,
    /// Wall time of a whole run; absent when the row was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall: Option<WallTime>,
    /// Tasks per second at the median wall time; absent when the row was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<f64>,
    /// CPU time (user + system) of a whole run, in seconds: the case's processes and threads
    /// (worker processes and Python or curl children included), without the in-process test
    /// site's; absent where it was not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Stats>,
    /// CPU time of the in-process test site during a run, in seconds (fetch suites on the
    /// built-in site).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu: Option<Stats>,
    /// The largest resident set of any process of the row, in bytes, where measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// Anything a reader must know, such as `skipped: aiohttp is not installed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The row did only part of the suite's work, as a lower bound on what every other row
    /// must spend (for example the TLS handshakes alone, with no page): it is shown in the
    /// tables but left out of the comparisons and the chart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lower_bound: bool,
}

impl Row {
    /// A timed row from the wall time of each run in seconds. `None` when there are no samples.
    pub fn timed(
        mechanism: Mechanism,
        implementation: Implementation,
        workers: usize,
        tasks: u64,
        seconds_per_run: &[f64],
    ) -> Option<Row> {
        let wall = WallTime::of(seconds_per_run)?;
        Some(Row {
            mechanism,
            implementation,
            variant: None,
            workers,
            tasks,
            throughput: (wall.median > 0.0).then(|| tasks as f64 / wall.median),
            wall: Some(wall),
            cpu: None,
            server_cpu: None,
            peak_memory_bytes: None,
            note: None,
            lower_bound: false,
        })
    }

    /// A row that could not run, with the reason (`skipped: aiohttp is not installed; …`).
    pub fn skipped(
        mechanism: Mechanism,
        implementation: Implementation,
        workers: usize,
        tasks: u64,
        note: impl Into<String>,
    ) -> Row {
        Row {
            mechanism,
            implementation,
            variant: None,
            workers,
            tasks,
            wall: None,
            throughput: None,
            cpu: None,
            server_cpu: None,
            peak_memory_bytes: None,
            note: Some(note.into()),
            lower_bound: false,
        }
    }

    /// Sets the variant (builder style).
    pub fn with_variant(mut self, variant: impl Into<String>) -> Row {
        self.variant = Some(variant.into());
        self
    }

    /// Marks the row as a lower bound (builder style): see [`Row::lower_bound`].
    pub fn as_lower_bound(mut self) -> Row {
        self.lower_bound = true;
        self
    }

    /// Sets the CPU seconds of each run (builder style); no samples leave it unset.
    pub fn with_cpu(mut self, seconds_per_run: &[f64]) -> Row {
        self.cpu = Stats::of(seconds_per_run);
        self
    }

    /// Sets the in-process server's CPU seconds of each run (builder style); no samples leave
    /// it unset.
    pub fn with_server_cpu(mut self, seconds_per_run: &[f64]) -> Row {
        self.server_cpu = Stats::of(seconds_per_run);
        self
    }

    /// CPU seconds per task at the median run.
    pub fn cpu_per_task(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.tasks > 0).then(|| cpu.median / self.tasks as f64)
    }

    /// The in-process server's CPU seconds per task at the median run.
    pub fn server_cpu_per_task(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.tasks > 0).then(|| cpu.median / self.tasks as f64)
    }

    /// Sets the peak memory in bytes (builder style).
    pub fn with_peak_memory(mut self, bytes: Option<u64>) -> Row {
        self.peak_memory_bytes = bytes;
        self
    }

    /// The row's name in tables and charts: `async`, `python threads`, `threads map`, `curl`.
    pub fn label(&self) -> String {
        let mut label = match self.implementation {
            Implementation::Rust => self.mechanism.to_string(),
            Implementation::Python => format!("python {}", self.mechanism),
            Implementation::Curl => "curl".to_owned(),
        };
        if let Some(variant) = &self.variant {
            let _ = write!(label, " {variant}");
        }
        label
    }

    /// Seconds per task at the median, fastest and slowest run; `None` for an untimed row.
    fn per_task(&self) -> Option<PerTask> {
        let wall = self.wall.as_ref()?;
        let tasks = self.tasks as f64;
        (self.tasks > 0 && wall.min > 0.0).then(|| PerTask {
            median: wall.median / tasks,
            min: wall.min / tasks,
            max: wall.max / tasks,
        })
    }
}

/// Seconds per task of a row.
#[derive(Debug, Clone, Copy)]
struct PerTask {
    median: f64,
    min: f64,
    max: f64,
}

/// Wall time of a whole run over the timed runs, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WallTime {
    /// The median run.
    pub median: f64,
    /// The fastest run.
    pub min: f64,
    /// The slowest run.
    pub max: f64,
    /// How many timed runs there were.
    pub runs: u64,
}

impl WallTime {
    /// Summarizes the wall time of each run in seconds; `None` when there are none.
    pub fn of(seconds_per_run: &[f64]) -> Option<WallTime> {
        let Stats { median, min, max } = Stats::of(seconds_per_run)?;
        Some(WallTime {
            median,
            min,
            max,
            runs: seconds_per_run.len() as u64,
        })
    }
}

/// A mechanism of the design's one word list, plus the sequential baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// A pool of OS threads (`ThreadPoolExecutor`).
    Threads,
    /// Coroutines on an event loop (`asyncio`, tokio).
    Async,
    /// A pool of worker processes (`multiprocessing.Pool`).
    Processes,
    /// Async I/O feeding parallel CPU work.
    Hybrid,
    /// The baseline: one task after another, no mechanism.
    Sequential,
}

impl Mechanism {
    /// Every mechanism, in the order charts and legends list them.
    pub const ALL: [Mechanism; 5] = [
        Mechanism::Threads,
        Mechanism::Async,
        Mechanism::Processes,
        Mechanism::Hybrid,
        Mechanism::Sequential,
    ];

    /// The mechanism's name in the word list.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Threads => "threads",
            Mechanism::Async => "async",
            Mechanism::Processes => "processes",
            Mechanism::Hybrid => "hybrid",
            Mechanism::Sequential => "sequential",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which program produced a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    /// abreast itself.
    Rust,
    /// One of the explainer's Python programs (`crates/abreast-bench/python/`).
    Python,
    /// `curl -Z`, fetching the same pages without extracting anything: the fetch suites'
    /// reference for client CPU per page.
    Curl,
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Implementation::Rust => "rust",
            Implementation::Python => "python",
            Implementation::Curl => "curl",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn row(mechanism: Mechanism, tasks: u64, seconds: &[f64]) -> Row {
        Row::timed(mechanism, Implementation::Rust, 4, tasks, seconds).unwrap()
    }

    pub(super) fn suite(rows: Vec<Row>) -> SuiteReport {
        SuiteReport {
            name: "fetch".to_owned(),
            description: "test".to_owned(),
            unit: "pages".to_owned(),
            rows,
        }
    }

    #[test]
    fn timed_rows_summarize_runs_and_compute_throughput() {
        let row = row(Mechanism::Async, 100, &[2.0, 1.0, 4.0]);
        let wall = row.wall.unwrap();
        assert_eq!(
            (wall.median, wall.min, wall.max, wall.runs),
            (2.0, 1.0, 4.0, 3)
        );
        assert_eq!(row.throughput, Some(50.0));
        assert!(Row::timed(Mechanism::Async, Implementation::Rust, 1, 1, &[]).is_none());
    }

    #[test]
    fn labels_name_python_rows_variants_and_duplicate_worker_counts() {
        let mut many = row(Mechanism::Threads, 1, &[1.0]);
        many.workers = 64;
        let report = suite(vec![
            row(Mechanism::Threads, 1, &[1.0]),
            many,
            row(Mechanism::Threads, 1, &[1.0]).with_variant("map"),
            Row::skipped(Mechanism::Async, Implementation::Python, 8, 1, "skipped"),
        ]);
        assert_eq!(
            report.labels(),
            ["threads ×4", "threads ×64", "threads map", "python async"]
        );
    }

    #[test]
    fn machine_detection_names_this_machine() {
        let machine = Machine::detect();
        assert!(machine.cpus >= 1);
        assert_eq!(machine.os, std::env::consts::OS);
        assert!(machine.to_string().contains("CPUs"), "{machine}");
    }
}
