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

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

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

    /// The report as aligned text tables for the terminal: a heading per suite, its table, and
    /// its summary lines.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.describe_run());
        for suite in &self.suites {
            let _ = writeln!(out);
            out.push_str(&suite.render_text());
        }
        out
    }

    /// One line naming the version, the machine and the settings.
    pub fn describe_run(&self) -> String {
        let mut line = format!(
            "abreast {} on {}; warm-up {}, runs {}",
            self.abreast_version, self.machine, self.warmup, self.runs
        );
        if let Some(started_at) = &self.started_at {
            let _ = write!(line, "; started {started_at}");
        }
        line
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

    /// hyperfine-style summary lines: the fastest row against each other timed row, slowest
    /// last, for example `async ran 12.30× faster than threads`. Rows are compared by time per
    /// task (their median), so rows with different task counts still compare fairly. Where runs
    /// vary, the range of the ratio (best case to worst case) follows in brackets. Empty when
    /// fewer than two rows were timed.
    pub fn summary(&self) -> Vec<String> {
        let labels = self.labels();
        let mut timed: Vec<(&String, PerTask)> = labels
            .iter()
            .zip(&self.rows)
            .filter_map(|(label, row)| Some((label, row.per_task()?)))
            .collect();
        if timed.len() < 2 {
            return Vec::new();
        }
        timed.sort_by(|a, b| a.1.median.total_cmp(&b.1.median));
        let (fastest_label, fastest) = timed[0];
        timed[1..]
            .iter()
            .map(|(label, other)| {
                let ratio = other.median / fastest.median;
                let (low, high) = (other.min / fastest.max, other.max / fastest.min);
                let mut line = format!(
                    "{fastest_label} ran {} faster than {label}",
                    format_ratio(ratio)
                );
                if high - low > 0.005 * ratio {
                    let _ = write!(line, " [{} … {}]", format_ratio(low), format_ratio(high));
                }
                line
            })
            .collect()
    }

    /// Lines comparing each row's CPU per task with the curl reference row's, lowest first,
    /// such as `hybrid used 1.31× the CPU per page of curl (60.2 µs against 46.0 µs)`; empty
    /// without a timed curl row with its CPU.
    pub fn cpu_summary(&self) -> Vec<String> {
        let Some(curl) = self
            .rows
            .iter()
            .find(|row| row.implementation == Implementation::Curl)
            .and_then(Row::cpu_per_task)
        else {
            return Vec::new();
        };
        if curl <= 0.0 {
            return Vec::new();
        }
        let unit = singular(&self.unit);
        let mut others: Vec<(String, f64)> = self
            .labels()
            .into_iter()
            .zip(&self.rows)
            .filter(|(_, row)| row.implementation != Implementation::Curl)
            .filter_map(|(label, row)| Some((label, row.cpu_per_task()?)))
            .collect();
        others.sort_by(|a, b| a.1.total_cmp(&b.1));
        others
            .into_iter()
            .map(|(label, per_task)| {
                format!(
                    "{label} used {} the CPU per {unit} of curl ({} against {})",
                    format_ratio(per_task / curl),
                    format_seconds(per_task),
                    format_seconds(curl)
                )
            })
            .collect()
    }

    /// The suite as text for the terminal: a heading, an aligned table, and the summary.
    pub fn render_text(&self) -> String {
        let mut out = format!("{}: {}\n", self.name, self.description);
        let (columns, rows) = self.table();
        let mut widths: Vec<usize> = columns.iter().map(|c| c.header.chars().count()).collect();
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut text = String::new();
            for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                let gap = if index == 0 { "" } else { "  " };
                if columns[index].align == Align::Right {
                    let _ = write!(text, "{gap}{cell:>width$}");
                } else {
                    let _ = write!(text, "{gap}{cell:<width$}");
                }
            }
            text.truncate(text.trim_end().len());
            text + "\n"
        };
        let headers: Vec<String> = columns.iter().map(|c| c.header.clone()).collect();
        out.push_str(&line(&headers));
        for row in &rows {
            out.push_str(&line(row));
        }
        for summary in self.summary().into_iter().chain(self.cpu_summary()) {
            let _ = writeln!(out, "  {summary}");
        }
        out
    }

    /// The table shown to people (terminal and Markdown): its columns and one line of cells
    /// per row, in human units. The server's CPU has a column only where a row measured it.
    pub fn table(&self) -> (Vec<Column>, Vec<Vec<String>>) {
        let with_server = self.rows.iter().any(|row| row.server_cpu.is_some());
        let unit = singular(&self.unit);
        let mut columns = vec![
            Column::new("mechanism", Align::Left),
            Column::new("workers", Align::Right),
            Column::new("tasks", Align::Right),
            Column::new("median", Align::Right),
            Column::new("min … max", Align::Right),
            Column::new("throughput", Align::Right),
            Column::new("CPU", Align::Right),
            Column::new(&format!("CPU/{unit}"), Align::Right),
        ];
        if with_server {
            columns.push(Column::new(&format!("server CPU/{unit}"), Align::Right));
        }
        columns.push(Column::new("peak memory", Align::Right));
        columns.push(Column::new("note", Align::Left));
        let dash = || "-".to_owned();
        let rows = self
            .labels()
            .into_iter()
            .zip(&self.rows)
            .map(|(label, row)| {
                let (median, range, throughput) = match &row.wall {
                    Some(wall) => (
                        format_seconds(wall.median),
                        format!(
                            "{} … {}",
                            format_seconds(wall.min),
                            format_seconds(wall.max)
                        ),
                        row.throughput.map_or_else(dash, |rate| {
                            format!("{} {}/s", format_rate(rate), self.unit)
                        }),
                    ),
                    None => (dash(), dash(), dash()),
                };
                let mut cells = vec![
                    label,
                    row.workers.to_string(),
                    row.tasks.to_string(),
                    median,
                    range,
                    throughput,
                    row.cpu.map_or_else(dash, |cpu| format_seconds(cpu.median)),
                    row.cpu_per_task().map_or_else(dash, format_seconds),
                ];
                if with_server {
                    cells.push(row.server_cpu_per_task().map_or_else(dash, format_seconds));
                }
                cells.push(row.peak_memory_bytes.map_or_else(dash, format_bytes));
                cells.push(row.note.clone().unwrap_or_default());
                cells
            })
            .collect();
        (columns, rows)
    }
}

/// `pages` -> `page`: the unit of one task.
fn singular(unit: &str) -> &str {
    unit.strip_suffix('s').unwrap_or(unit)
}

/// Alignment of a table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text, aligned left.
    Left,
    /// Numbers, aligned right.
    Right,
}

/// A column of the human table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The heading.
    pub header: String,
    /// How its cells align.
    pub align: Align,
}

impl Column {
    fn new(header: &str, align: Align) -> Column {
        Column {
            header: header.to_owned(),
            align,
        }
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
    pub cpu: Option<Summary>,
    /// CPU time of the in-process test site during a run, in seconds (fetch suites on the
    /// built-in site).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu: Option<Summary>,
    /// The largest resident set of any process of the row, in bytes, where measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// Anything a reader must know, such as `skipped: aiohttp is not installed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
        }
    }

    /// Sets the variant (builder style).
    pub fn with_variant(mut self, variant: impl Into<String>) -> Row {
        self.variant = Some(variant.into());
        self
    }

    /// Sets the CPU seconds of each run (builder style); no samples leave it unset.
    pub fn with_cpu(mut self, seconds_per_run: &[f64]) -> Row {
        self.cpu = Summary::of(seconds_per_run);
        self
    }

    /// Sets the in-process server's CPU seconds of each run (builder style); no samples leave
    /// it unset.
    pub fn with_server_cpu(mut self, seconds_per_run: &[f64]) -> Row {
        self.server_cpu = Summary::of(seconds_per_run);
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
        let Summary { median, min, max } = Summary::of(seconds_per_run)?;
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

/// Seconds in the unit that reads best: `850 µs`, `12.3 ms`, `4.56 s`.
pub fn format_seconds(seconds: f64) -> String {
    if seconds < 1e-3 {
        format!("{} µs", three_digits(seconds * 1e6))
    } else if seconds < 1.0 {
        format!("{} ms", three_digits(seconds * 1e3))
    } else {
        format!("{} s", three_digits(seconds))
    }
}

/// Bytes in binary units: `512 B`, `3.4 KiB`, `120.5 MiB`, `2.00 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let value = bytes as f64;
    if value < KIB {
        format!("{bytes} B")
    } else if value < KIB * KIB {
        format!("{:.1} KiB", value / KIB)
    } else if value < KIB * KIB * KIB {
        format!("{:.1} MiB", value / (KIB * KIB))
    } else {
        format!("{:.2} GiB", value / (KIB * KIB * KIB))
    }
}

/// A rate with three significant digits, and `k`/`M` for thousands and millions: `950`,
/// `12.3k`, `4.56M`.
pub fn format_rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{}M", three_digits(per_second / 1e6))
    } else if per_second >= 1e4 {
        format!("{}k", three_digits(per_second / 1e3))
    } else {
        three_digits(per_second)
    }
}

/// A speed-up ratio: `12.30×`.
fn format_ratio(ratio: f64) -> String {
    format!("{ratio:.2}×")
}

/// A positive number with three significant digits (no fewer than zero decimals).
fn three_digits(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mechanism: Mechanism, tasks: u64, seconds: &[f64]) -> Row {
        Row::timed(mechanism, Implementation::Rust, 4, tasks, seconds).unwrap()
    }

    fn suite(rows: Vec<Row>) -> SuiteReport {
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
    fn summary_compares_the_fastest_with_each_other_row_by_time_per_task() {
        let report = suite(vec![
            row(Mechanism::Threads, 100, &[10.0]),
            row(Mechanism::Async, 100, &[1.0]),
            // Twice the tasks in twice the time: as fast per task as async.
            row(Mechanism::Hybrid, 200, &[4.0]),
            Row::skipped(
                Mechanism::Processes,
                Implementation::Python,
                4,
                100,
                "skipped: no python3",
            ),
        ]);
        assert_eq!(
            report.summary(),
            [
                "async ran 2.00× faster than hybrid",
                "async ran 10.00× faster than threads",
            ]
        );
    }

    #[test]
    fn summary_shows_the_range_when_runs_vary() {
        let report = suite(vec![
            row(Mechanism::Threads, 10, &[4.0, 5.0, 6.0]),
            row(Mechanism::Async, 10, &[1.0, 2.0, 2.0]),
        ]);
        assert_eq!(
            report.summary(),
            ["async ran 2.50× faster than threads [2.00× … 6.00×]"]
        );
        assert!(
            suite(vec![row(Mechanism::Async, 1, &[1.0])])
                .summary()
                .is_empty()
        );
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
    fn human_units() {
        assert_eq!(format_seconds(0.000_85), "850 µs");
        assert_eq!(format_seconds(0.012_34), "12.3 ms");
        assert_eq!(format_seconds(4.561), "4.56 s");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(3 * 1024 + 400), "3.4 KiB");
        assert_eq!(format_bytes(120 * 1024 * 1024 + 512 * 1024), "120.5 MiB");
        assert_eq!(format_rate(950.4), "950");
        assert_eq!(format_rate(12_345.0), "12.3k");
        assert_eq!(format_rate(4_561_000.0), "4.56M");
    }

    #[test]
    fn machine_detection_names_this_machine() {
        let machine = Machine::detect();
        assert!(machine.cpus >= 1);
        assert_eq!(machine.os, std::env::consts::OS);
        assert!(machine.to_string().contains("CPUs"), "{machine}");
    }

    #[test]
    fn cpu_summary_compares_every_row_with_curl_per_task() {
        let curl = Row {
            implementation: Implementation::Curl,
            ..row(Mechanism::Async, 100, &[1.0])
        }
        .with_cpu(&[0.004]);
        let hybrid = row(Mechanism::Hybrid, 100, &[1.0]).with_cpu(&[0.005, 0.006, 0.007]);
        let threads = row(Mechanism::Threads, 200, &[1.0]).with_cpu(&[0.016]);
        let untimed = row(Mechanism::Async, 100, &[1.0]);
        let report = suite(vec![threads, hybrid, untimed, curl]);
        assert_eq!(
            report.cpu_summary(),
            [
                "hybrid used 1.50× the CPU per page of curl (60.0 µs against 40.0 µs)",
                "threads used 2.00× the CPU per page of curl (80.0 µs against 40.0 µs)",
            ]
        );
        assert!(
            suite(vec![row(Mechanism::Async, 1, &[1.0]).with_cpu(&[1.0])])
                .cpu_summary()
                .is_empty()
        );
        let (columns, cells) = report.table();
        let headers: Vec<&str> = columns.iter().map(|c| c.header.as_str()).collect();
        assert!(headers.contains(&"CPU/page"), "{headers:?}");
        assert!(
            !headers.iter().any(|h| h.starts_with("server")),
            "{headers:?}"
        );
        assert_eq!(cells[1][7], "60.0 µs");
    }
}
