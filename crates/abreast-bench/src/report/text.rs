//! The report rendered for people: the terminal's aligned tables, the hyperfine-style summary
//! lines, the table that the terminal and the Markdown exporter share, and the human units
//! (`12.3 ms`, `3.4 KiB`, `4.56M`) that every renderer, the chart included, writes numbers in.

use std::fmt::Write as _;

use super::{Implementation, PerTask, Report, Row, SuiteReport};

impl Report {
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

impl SuiteReport {
    /// hyperfine-style summary lines: the fastest row against each other timed row, slowest
    /// last, for example `async ran 12.30× faster than threads`. Rows are compared by time per
    /// task (their median), so rows with different task counts still compare fairly. Where runs
    /// vary, the range of the ratio (best case to worst case) follows in brackets. Empty when
    /// fewer than two rows were timed. Lower-bound rows ([`Row::lower_bound`]) are left out.
    pub fn summary(&self) -> Vec<String> {
        let labels = self.labels();
        let mut timed: Vec<(&String, PerTask)> = labels
            .iter()
            .zip(&self.rows)
            .filter(|(_, row)| !row.lower_bound)
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
    /// without a timed curl row with its CPU. Lower-bound rows are left out.
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
            .filter(|(_, row)| row.implementation != Implementation::Curl && !row.lower_bound)
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
    use crate::report::Mechanism;
    use crate::report::tests::{row, suite};

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
