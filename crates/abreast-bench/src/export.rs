//! Writing a bench report as JSON, Markdown or CSV, to a file or to stdout, and as the JSON
//! lines of `abreast bench --json`.
//!
//! Each format has a `write_*` function that writes to any `Write` (used by the snapshot tests)
//! and an `export_*` function that writes to the destination a user named: a path, or `-` for
//! stdout, as hyperfine's `--export-*` options do. One function, [`open_destination`], opens it.
//! The JSON lines are one [`JsonRow`] per row of every suite ([`json_rows`]), one to a line.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::BenchError;
use crate::overhead;
use crate::report::{Align, Implementation, Report, Row, SuiteReport};

/// Writes the report as pretty-printed JSON to `destination` (`-` is stdout).
///
/// # Errors
///
/// [`BenchError::Export`] when the file cannot be created or written.
pub fn export_json(report: &Report, destination: &Path) -> Result<(), BenchError> {
    export(destination, "JSON report", |out| write_json(report, out))
}

/// Writes the report as Markdown tables to `destination` (`-` is stdout).
///
/// # Errors
///
/// [`BenchError::Export`] when the file cannot be created or written.
pub fn export_markdown(report: &Report, destination: &Path) -> Result<(), BenchError> {
    export(destination, "Markdown report", |out| {
        write_markdown(report, out)
    })
}

/// Writes the report as CSV, one line per row, to `destination` (`-` is stdout).
///
/// # Errors
///
/// [`BenchError::Export`] when the file cannot be created or written.
pub fn export_csv(report: &Report, destination: &Path) -> Result<(), BenchError> {
    export(destination, "CSV report", |out| write_csv(report, out))
}

/// Opens `destination` for writing: `-` is stdout, anything else a file created or truncated.
pub fn open_destination(destination: &Path) -> io::Result<Box<dyn Write>> {
    if destination == Path::new("-") {
        return Ok(Box::new(BufWriter::new(io::stdout().lock())));
    }
    Ok(Box::new(BufWriter::new(File::create(destination)?)))
}

/// Opens `destination`, lets `write` fill it, and flushes it, naming `what` in any error.
pub(crate) fn export(
    destination: &Path,
    what: &str,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), BenchError> {
    open_destination(destination)
        .and_then(|mut out| {
            write(&mut out)?;
            out.flush()
        })
        .map_err(|source| BenchError::Export {
            what: what.to_owned(),
            destination: destination.to_owned(),
            source,
        })
}

/// Writes the report as pretty-printed JSON followed by a newline.
///
/// # Errors
///
/// What `out` returns.
pub fn write_json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes the report as Markdown: a line about the run, then per suite a heading, its
/// description, a table, and its summary as a list.
///
/// # Errors
///
/// What `out` returns.
pub fn write_markdown(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut text = format!("{}\n", escape_markdown(&report.describe_run()));
    for suite in &report.suites {
        let _ = write!(
            text,
            "\n## {}\n\n{} (throughput in {} per second).\n\n",
            suite.name,
            escape_markdown(&suite.description),
            suite.unit
        );
        let (columns, rows) = suite.table();
        let cells = |cells: &[String]| {
            let escaped: Vec<String> = cells.iter().map(|cell| escape_markdown(cell)).collect();
            format!("| {} |\n", escaped.join(" | "))
        };
        text.push_str(&cells(
            &columns.iter().map(|c| c.header.clone()).collect::<Vec<_>>(),
        ));
        let rule: Vec<&str> = columns
            .iter()
            .map(|column| match column.align {
                Align::Left => ":--",
                Align::Right => "--:",
            })
            .collect();
        let _ = writeln!(text, "|{}|", rule.join("|"));
        for row in &rows {
            text.push_str(&cells(row));
        }
        let summary: Vec<String> = suite
            .summary()
            .into_iter()
            .chain(suite.cpu_summary())
            .collect();
        if !summary.is_empty() {
            text.push('\n');
            for line in summary {
                let _ = writeln!(text, "- {}", escape_markdown(&line));
            }
        }
    }
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// Escapes the characters that would break a Markdown table cell or start emphasis.
pub fn escape_markdown(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '|' | '*' | '_' | '\\' | '`') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// One line of the CSV export: a row with its suite, in plain units (seconds, bytes).
#[derive(Debug, Serialize)]
struct CsvRecord<'a> {
    suite: &'a str,
    mechanism: &'a str,
    implementation: String,
    variant: &'a str,
    workers: usize,
    tasks: u64,
    unit: &'a str,
    runs: Option<u64>,
    median_seconds: Option<f64>,
    min_seconds: Option<f64>,
    max_seconds: Option<f64>,
    throughput_per_second: Option<f64>,
    cpu_median_seconds: Option<f64>,
    cpu_min_seconds: Option<f64>,
    cpu_max_seconds: Option<f64>,
    cpu_seconds_per_task: Option<f64>,
    server_cpu_median_seconds: Option<f64>,
    peak_memory_bytes: Option<u64>,
    note: &'a str,
    lower_bound: bool,
}

/// Writes the report as CSV with a header line: one line per row of every suite, times in
/// seconds, memory in bytes, and empty fields where a row has no value.
///
/// # Errors
///
/// What `out` returns.
pub fn write_csv(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    for suite in &report.suites {
        for row in &suite.rows {
            writer
                .serialize(CsvRecord {
                    suite: &suite.name,
                    mechanism: row.mechanism.name(),
                    implementation: row.implementation.to_string(),
                    variant: row.variant.as_deref().unwrap_or(""),
                    workers: row.workers,
                    tasks: row.tasks,
                    unit: &suite.unit,
                    runs: row.wall.map(|wall| wall.runs),
                    median_seconds: row.wall.map(|wall| wall.median),
                    min_seconds: row.wall.map(|wall| wall.min),
                    max_seconds: row.wall.map(|wall| wall.max),
                    throughput_per_second: row.throughput,
                    cpu_median_seconds: row.cpu.map(|cpu| cpu.median),
                    cpu_min_seconds: row.cpu.map(|cpu| cpu.min),
                    cpu_max_seconds: row.cpu.map(|cpu| cpu.max),
                    cpu_seconds_per_task: row.cpu_per_task(),
                    server_cpu_median_seconds: row.server_cpu.map(|cpu| cpu.median),
                    peak_memory_bytes: row.peak_memory_bytes,
                    note: row.note.as_deref().unwrap_or(""),
                    lower_bound: row.lower_bound,
                })
                .map_err(io::Error::other)?;
        }
    }
    writer.flush()
}

/// One line of `abreast bench --json`: a row with its suite and per-task figures.
#[derive(Debug, Serialize)]
pub struct JsonRow<'a> {
    /// The suite's name.
    pub suite: &'a str,
    /// The row's mechanism.
    pub mechanism: &'a str,
    /// The program that ran it.
    pub implementation: Implementation,
    /// The row's variant (the operation, in the overhead suite).
    pub op: Option<&'a str>,
    /// Workers, connections or coroutines.
    pub workers: usize,
    /// Tasks per run.
    pub tasks: u64,
    /// Wall microseconds per task at the median run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub us_per_task: Option<f64>,
    /// The median run's wall seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_s: Option<f64>,
    /// The fastest run's wall seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_s: Option<f64>,
    /// The slowest run's wall seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_s: Option<f64>,
    /// Tasks per second at the median run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<f64>,
    /// The median run's CPU seconds (user + system) of the case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_s: Option<f64>,
    /// CPU microseconds per task at the median run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_task: Option<f64>,
    /// The median run's CPU seconds of the in-process test site, apart from the case's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    /// The largest resident set of the row's process tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// Bytes per waiting coroutine, for the overhead suite's memory rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_task: Option<f64>,
    /// The row's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'a str>,
    /// True for a row that did only part of the work, as a bound on the others
    /// ([`Row::lower_bound`]); absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lower_bound: bool,
}

/// Every row of `report` as a [`JsonRow`], suite by suite.
pub fn json_rows(report: &Report) -> Vec<JsonRow<'_>> {
    report
        .suites
        .iter()
        .flat_map(|suite| suite.rows.iter().map(move |row| json_row(suite, row)))
        .collect()
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
        cpu_s: row.cpu.map(|cpu| cpu.median),
        cpu_us_per_task: row.cpu_per_task().map(|seconds| seconds * 1e6),
        server_cpu_s: row.server_cpu.map(|cpu| cpu.median),
        peak_memory_bytes: row.peak_memory_bytes,
        bytes_per_task: overhead::bytes_per_task(row),
        note: row.note.as_deref(),
        lower_bound: row.lower_bound,
    }
}
