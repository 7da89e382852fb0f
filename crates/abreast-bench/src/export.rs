//! Writing the report of `abreast bench` as JSON, Markdown or CSV, to a file or to stdout.
//!
//! Each format has a `write_*` function that writes to any `Write` (used by the snapshot tests)
//! and an `export_*` function that writes to the destination a user named: a path, or `-` for
//! stdout, as hyperfine's `--export-*` options do. One function, [`open_destination`], opens it.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use super::report::{Align, COLUMNS, Report};

/// Writes the report as pretty-printed JSON to `destination` (`-` is stdout).
pub fn export_json(report: &Report, destination: &Path) -> anyhow::Result<()> {
    export(destination, "JSON report", |out| write_json(report, out))
}

/// Writes the report as Markdown tables to `destination` (`-` is stdout).
pub fn export_markdown(report: &Report, destination: &Path) -> anyhow::Result<()> {
    export(destination, "Markdown report", |out| {
        write_markdown(report, out)
    })
}

/// Writes the report as CSV, one line per row, to `destination` (`-` is stdout).
pub fn export_csv(report: &Report, destination: &Path) -> anyhow::Result<()> {
    export(destination, "CSV report", |out| write_csv(report, out))
}

/// Opens `destination` for writing: `-` is stdout, anything else a file created or truncated.
pub fn open_destination(destination: &Path) -> anyhow::Result<Box<dyn Write>> {
    if destination == Path::new("-") {
        return Ok(Box::new(BufWriter::new(io::stdout().lock())));
    }
    let file = File::create(destination).with_context(|| {
        format!(
            "could not create {}: check that its folder exists and is writable",
            destination.display()
        )
    })?;
    Ok(Box::new(BufWriter::new(file)))
}

/// Opens `destination`, lets `write` fill it, and flushes it, naming `what` in any error.
pub(crate) fn export(
    destination: &Path,
    what: &str,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut out = open_destination(destination)?;
    write(&mut out)
        .and_then(|()| Ok(out.flush()?))
        .with_context(|| format!("could not write the {what} to {}", destination.display()))
}

/// Writes the report as pretty-printed JSON followed by a newline.
pub fn write_json(report: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes the report as Markdown: a line about the run, then per suite a heading, its
/// description, a table, and its summary as a list.
pub fn write_markdown(report: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut text = format!("{}\n", escape_markdown(&report.describe_run()));
    for suite in &report.suites {
        let _ = write!(
            text,
            "\n## {}\n\n{} (throughput in {} per second).\n\n",
            suite.name,
            escape_markdown(&suite.description),
            suite.unit
        );
        let (headers, rows) = suite.table();
        let cells = |cells: &[String]| {
            let escaped: Vec<String> = cells.iter().map(|cell| escape_markdown(cell)).collect();
            format!("| {} |\n", escaped.join(" | "))
        };
        text.push_str(&cells(
            &headers.into_iter().map(str::to_owned).collect::<Vec<_>>(),
        ));
        let rule: Vec<&str> = COLUMNS
            .iter()
            .map(|(_, align)| match align {
                Align::Left => ":--",
                Align::Right => "--:",
            })
            .collect();
        let _ = writeln!(text, "|{}|", rule.join("|"));
        for row in &rows {
            text.push_str(&cells(row));
        }
        let summary = suite.summary();
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
fn escape_markdown(text: &str) -> String {
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
    peak_memory_bytes: Option<u64>,
    note: &'a str,
}

/// Writes the report as CSV with a header line: one line per row of every suite, times in
/// seconds, memory in bytes, and empty fields where a row has no value.
pub fn write_csv(report: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    for suite in &report.suites {
        for row in &suite.rows {
            writer.serialize(CsvRecord {
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
                peak_memory_bytes: row.peak_memory_bytes,
                note: row.note.as_deref().unwrap_or(""),
            })?;
        }
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bench::report::tests::fixed_report;

    /// Compares `actual` with the snapshot file `name` under `tests/snapshots/`, exactly.
    /// `UPDATE_SNAPSHOTS=1` rewrites the file instead; review the change with `git diff`.
    pub(crate) fn assert_snapshot(name: &str, actual: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/snapshots")
            .join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value == "1") {
            std::fs::write(&path, actual).expect("the snapshot is writable");
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "no snapshot {} ({error}); run with UPDATE_SNAPSHOTS=1 to write it",
                path.display()
            )
        });
        assert!(
            actual == expected,
            "{name} differs from its snapshot; if the change is intended, run with \
             UPDATE_SNAPSHOTS=1 and review the diff\n--- expected\n{expected}\n--- actual\n{actual}"
        );
    }

    fn written(write: fn(&Report, &mut dyn Write) -> anyhow::Result<()>) -> String {
        let mut bytes = Vec::new();
        write(&fixed_report(), &mut bytes).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn json_snapshot_and_round_trip() {
        let json = written(write_json);
        assert_snapshot("report.json", &json);
        let parsed: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed, fixed_report());
    }

    #[test]
    fn markdown_snapshot() {
        let markdown = written(write_markdown);
        assert_snapshot("report.md", &markdown);
    }

    #[test]
    fn csv_snapshot_has_a_line_per_row() {
        let csv = written(write_csv);
        assert_snapshot("report.csv", &csv);
        let rows: usize = fixed_report().suites.iter().map(|s| s.rows.len()).sum();
        assert_eq!(csv.lines().count(), rows + 1);
    }

    #[test]
    fn exports_to_a_file_and_reports_a_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.csv");
        export_csv(&fixed_report(), &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), written(write_csv));
        let error = export_json(&fixed_report(), &dir.path().join("no/such/report.json"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("could not create"), "{error}");
    }

    #[test]
    fn markdown_escapes_table_breakers() {
        assert_eq!(escape_markdown("a|b*c_d"), "a\\|b\\*c\\_d");
    }
}
