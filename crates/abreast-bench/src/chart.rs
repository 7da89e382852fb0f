//! The comparison chart of a bench report (`abreast bench --chart FILE.svg`): throughput per mechanism, one
//! panel of bars per suite, as an SVG file any browser shows.
//!
//! Each suite gets its own panel and axis, because suites count different units (pages,
//! tasks) at rates that differ by orders of magnitude; within a panel, one horizontal bar per
//! row shows its throughput at the median run (higher is better), with a whisker from the
//! slowest to the fastest run. A panel's axis turns logarithmic when its largest value is more
//! than [`LOG_SCALE_SPREAD`] times its smallest, and says so. Colours name the mechanism; Python
//! rows are pale with an outline.
//!
//! The SVG is written by hand rather than with a plotting crate: it is a few rectangles, lines
//! and text elements, and plotters' SVG backend measures text with system fonts (or font files
//! it must be given), which would make the output depend on the machine. Text widths here are
//! estimated from character counts, so the same report always gives the same bytes.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::BenchError;
use crate::export::export;
use crate::report::{Implementation, Mechanism, Report, Row, SuiteReport, format_rate};

/// A panel's axis is logarithmic when its largest value exceeds its smallest this many times.
pub const LOG_SCALE_SPREAD: f64 = 20.0;

const WIDTH: f64 = 960.0;
const MARGIN: f64 = 20.0;
const FONT_SIZE: f64 = 12.0;
/// Estimated width of one character at `FONT_SIZE` in a sans-serif font (generous, so labels
/// never overlap the bars).
const CHAR_WIDTH: f64 = 7.0;
const BAR_HEIGHT: f64 = 18.0;
const BAR_GAP: f64 = 8.0;
/// Room right of the plot for the value labels.
const VALUE_ROOM: f64 = 130.0;

/// Writes the chart of `report` as SVG to `destination` (`-` is stdout).
///
/// # Errors
///
/// [`BenchError::Export`] when the file cannot be created or written.
pub fn export_svg(report: &Report, destination: &Path) -> Result<(), BenchError> {
    export(destination, "SVG chart", |out| {
        out.write_all(render_svg(report).as_bytes())
    })
}

/// The chart of `report` as an SVG document. Lower-bound rows ([`crate::Row::lower_bound`])
/// are left out: they did only part of the work, so a bar of theirs would compare nothing.
pub fn render_svg(report: &Report) -> String {
    let mut charted = report.clone();
    for suite in &mut charted.suites {
        suite.rows.retain(|row| !row.lower_bound);
    }
    let report = &charted;
    let label_width = report
        .suites
        .iter()
        .flat_map(SuiteReport::labels)
        .map(|label| label.chars().count())
        .max()
        .unwrap_or(8) as f64
        * CHAR_WIDTH
        + 12.0;
    let plot_left = MARGIN + label_width;
    let plot_right = WIDTH - MARGIN - VALUE_ROOM;
    let mut body = String::new();
    let mut y = MARGIN;
    y += 18.0;
    let _ = writeln!(
        body,
        r#"<text x="{MARGIN}" y="{y}" font-size="18" font-weight="bold">abreast bench: throughput by mechanism (higher is better)</text>"#
    );
    y += 20.0;
    let _ = writeln!(
        body,
        r##"<text x="{MARGIN}" y="{y}" fill="#555">{}</text>"##,
        escape(&report.describe_run())
    );
    y += 14.0;
    y = legend(&mut body, report, y);
    for suite in &report.suites {
        y = panel(&mut body, suite, y + 24.0, plot_left, plot_right);
    }
    let height = y + MARGIN;
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" "#,
            r#"viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{font}">"#,
            "\n",
            r#"<rect width="100%" height="100%" fill="white"/>"#,
            "\n{body}</svg>\n"
        ),
        width = WIDTH,
        height = height,
        font = FONT_SIZE,
        body = body,
    )
}

/// The colour of a mechanism's bars.
fn colour(mechanism: Mechanism) -> &'static str {
    match mechanism {
        Mechanism::Threads => "#4c78a8",
        Mechanism::Async => "#f58518",
        Mechanism::Processes => "#54a24b",
        Mechanism::Hybrid => "#b279a2",
        Mechanism::Sequential => "#8c8c8c",
    }
}

/// The fill and outline attributes of a row's bar: solid for Rust, pale and outlined for
/// Python, white and outlined for the curl reference.
fn bar_style(row: &Row) -> String {
    let colour = colour(row.mechanism);
    match row.implementation {
        Implementation::Rust => format!(r#"fill="{colour}""#),
        Implementation::Python => {
            format!(r#"fill="{colour}" fill-opacity="0.35" stroke="{colour}" stroke-width="1.5""#)
        }
        Implementation::Curl => {
            r##"fill="#ffffff" stroke="#333333" stroke-width="1.5""##.to_owned()
        }
    }
}

/// Draws the legend below `y`: the mechanisms that appear, and how Python and curl rows look.
/// Returns the y below it.
fn legend(body: &mut String, report: &Report, y: f64) -> f64 {
    let rows = || report.suites.iter().flat_map(|suite| &suite.rows);
    let y = y + 16.0;
    let mut x = MARGIN;
    for mechanism in Mechanism::ALL {
        if !rows().any(|row| row.mechanism == mechanism) {
            continue;
        }
        let _ = writeln!(
            body,
            r#"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{}"/>"#,
            y - 10.0,
            colour(mechanism)
        );
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{y}">{}</text>"#,
            x + 16.0,
            mechanism.name()
        );
        x += 16.0 + mechanism.name().len() as f64 * CHAR_WIDTH + 18.0;
    }
    if rows().any(|row| row.implementation == Implementation::Python) {
        let _ = writeln!(
            body,
            r##"<rect x="{x}" y="{:.1}" width="12" height="12" fill="#8c8c8c" fill-opacity="0.35" stroke="#8c8c8c" stroke-width="1.5"/>"##,
            y - 10.0
        );
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{y}">pale: the explainer's Python program; solid: abreast</text>"#,
            x + 16.0
        );
    }
    let mut y = y;
    if rows().any(|row| row.implementation == Implementation::Curl) {
        y += 18.0;
        let _ = writeln!(
            body,
            r##"<rect x="{MARGIN}" y="{:.1}" width="12" height="12" fill="#ffffff" stroke="#333333" stroke-width="1.5"/>"##,
            y - 10.0
        );
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{y}">white: curl -Z, fetching the same pages without extracting anything</text>"#,
            MARGIN + 16.0
        );
    }
    let y = y + 18.0;
    let _ = writeln!(
        body,
        r##"<text x="{MARGIN}" y="{y}" fill="#555">Bars: median run; whiskers: slowest to fastest run.</text>"##
    );
    y
}

/// An axis mapping values to x positions, linear from zero or logarithmic over whole decades.
#[derive(Debug, Clone, Copy)]
struct Axis {
    low: f64,
    high: f64,
    log: bool,
    left: f64,
    right: f64,
}

impl Axis {
    /// An axis covering `values` (all positive), drawn from `left` to `right`.
    fn covering(values: &[f64], left: f64, right: f64) -> Axis {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(0.0, f64::max);
        if min > 0.0 && max / min > LOG_SCALE_SPREAD {
            Axis {
                low: 10f64.powf(min.log10().floor()),
                high: 10f64.powf(max.log10().ceil()),
                log: true,
                left,
                right,
            }
        } else {
            let step = nice_step(max.max(f64::MIN_POSITIVE) / 5.0);
            Axis {
                low: 0.0,
                high: (max / step).ceil().max(1.0) * step,
                log: false,
                left,
                right,
            }
        }
    }

    fn x(&self, value: f64) -> f64 {
        let fraction = if self.log {
            (value.max(self.low).log10() - self.low.log10())
                / (self.high.log10() - self.low.log10())
        } else {
            (value - self.low) / (self.high - self.low)
        };
        self.left + fraction.clamp(0.0, 1.0) * (self.right - self.left)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (first, last) = (
                self.low.log10().round() as i32,
                self.high.log10().round() as i32,
            );
            (first..=last).map(|power| 10f64.powi(power)).collect()
        } else {
            let step = nice_step(self.high / 5.0);
            let count = (self.high / step).round() as u32;
            (0..=count).map(|n| f64::from(n) * step).collect()
        }
    }
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `rough`.
fn nice_step(rough: f64) -> f64 {
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * power)
        .find(|step| *step >= rough * 0.999_999)
        .unwrap_or(10.0 * power)
}

/// Draws one suite's panel starting at `top`; returns the y below it.
fn panel(body: &mut String, suite: &SuiteReport, top: f64, left: f64, right: f64) -> f64 {
    let unit = format!("{}/s", suite.unit);
    let _ = writeln!(
        body,
        r#"<text x="{MARGIN}" y="{top}" font-size="15" font-weight="bold">{}</text>"#,
        escape(&suite.name)
    );
    let _ = writeln!(
        body,
        r##"<text x="{:.1}" y="{top}" fill="#555">{}</text>"##,
        MARGIN + suite.name.chars().count() as f64 * 9.5 + 10.0,
        escape(&suite.description)
    );
    let values: Vec<f64> = suite.rows.iter().flat_map(whisker_and_bar).collect();
    let plot_top = top + 12.0;
    let plot_bottom = plot_top + suite.rows.len() as f64 * (BAR_HEIGHT + BAR_GAP) + BAR_GAP;
    if values.is_empty() {
        let _ = writeln!(
            body,
            r##"<text x="{left}" y="{:.1}" fill="#777">no rows were timed</text>"##,
            plot_top + 16.0
        );
        return plot_top + 24.0;
    }
    let axis = Axis::covering(&values, left, right);
    for tick in axis.ticks() {
        let x = axis.x(tick);
        let _ = writeln!(
            body,
            r##"<line x1="{x:.1}" y1="{plot_top:.1}" x2="{x:.1}" y2="{plot_bottom:.1}" stroke="#e0e0e0"/>"##
        );
        let _ = writeln!(
            body,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            plot_bottom + 14.0,
            format_tick(tick)
        );
    }
    let _ = writeln!(
        body,
        r##"<line x1="{left:.1}" y1="{plot_top:.1}" x2="{left:.1}" y2="{plot_bottom:.1}" stroke="#333"/>"##
    );
    for ((row, label), index) in suite.rows.iter().zip(suite.labels()).zip(0u32..) {
        let bar_top = plot_top + BAR_GAP + f64::from(index) * (BAR_HEIGHT + BAR_GAP);
        let middle = bar_top + BAR_HEIGHT / 2.0;
        let text_y = middle + FONT_SIZE * 0.35;
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{text_y:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            escape(&label)
        );
        let Some(rate) = row.throughput else {
            let note = row.note.as_deref().unwrap_or("not measured");
            let _ = writeln!(
                body,
                r##"<text x="{:.1}" y="{text_y:.1}" fill="#777" font-style="italic">{}</text>"##,
                left + 6.0,
                escape(&truncate(
                    note,
                    ((right + VALUE_ROOM - left) / CHAR_WIDTH) as usize
                ))
            );
            continue;
        };
        let end = axis.x(rate);
        let _ = writeln!(
            body,
            r#"<rect x="{left:.1}" y="{bar_top:.1}" width="{:.1}" height="{BAR_HEIGHT}" {}><title>{}: {} {unit}</title></rect>"#,
            (end - left).max(1.0),
            bar_style(row),
            escape(&label),
            format_rate(rate)
        );
        let mut value_x = end;
        if let [slowest, fastest, _] = whisker_and_bar(row)[..] {
            let (from, to) = (axis.x(slowest), axis.x(fastest));
            if to - from >= 1.0 {
                let _ = writeln!(
                    body,
                    r##"<path d="M{from:.1} {:.1}V{:.1}M{from:.1} {middle:.1}H{to:.1}M{to:.1} {:.1}V{:.1}" stroke="#222" fill="none"/>"##,
                    middle - 4.0,
                    middle + 4.0,
                    middle - 4.0,
                    middle + 4.0
                );
            }
            value_x = value_x.max(to);
        }
        let _ = writeln!(
            body,
            r#"<text x="{:.1}" y="{text_y:.1}">{} {unit}</text>"#,
            value_x + 6.0,
            format_rate(rate)
        );
    }
    let _ = writeln!(
        body,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">{}</text>"##,
        (left + right) / 2.0,
        plot_bottom + 30.0,
        if axis.log {
            format!("{unit}, log scale")
        } else {
            unit.clone()
        }
    );
    plot_bottom + 30.0
}

/// A timed row's throughput at its slowest run, its fastest run and its median, or nothing.
fn whisker_and_bar(row: &Row) -> Vec<f64> {
    match (row.throughput, &row.wall) {
        (Some(rate), Some(wall)) if wall.min > 0.0 && row.tasks > 0 => {
            let tasks = row.tasks as f64;
            vec![tasks / wall.max, tasks / wall.min, rate]
        }
        (Some(rate), _) => vec![rate],
        (None, _) => Vec::new(),
    }
}

/// An axis tick's value without trailing zeros: `0`, `2.5`, `10k`, `1M`.
fn format_tick(value: f64) -> String {
    let text = format_rate(value);
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let number = if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    };
    format!("{number}{suffix}")
}

/// `text` cut to `limit` characters, with an ellipsis where it was cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let kept: String = text.chars().take(limit.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// `text` with the characters XML gives meaning to escaped.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_turn_logarithmic_only_past_the_spread() {
        let linear = Axis::covering(&[10.0, 150.0], 0.0, 100.0);
        assert!(!linear.log);
        assert_eq!(linear.ticks(), [0.0, 50.0, 100.0, 150.0]);
        assert_eq!(linear.x(75.0), 50.0);
        let log = Axis::covering(&[40.0, 53_000.0, 33_000_000.0], 0.0, 600.0);
        assert!(log.log);
        assert_eq!((log.low, log.high), (10.0, 1e8));
        assert_eq!(log.ticks().len(), 8);
        assert!((log.x(1e4) - 257.142_857).abs() < 1e-3);
    }

    #[test]
    fn tick_labels_are_short() {
        let labels: Vec<String> = [0.0, 2.5, 50.0, 100.0, 1e4, 1e6, 2.5e7]
            .into_iter()
            .map(format_tick)
            .collect();
        assert_eq!(labels, ["0", "2.5", "50", "100", "10k", "1M", "25M"]);
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(20.0), 20.0);
        assert_eq!(nice_step(21.0), 50.0);
        assert_eq!(nice_step(700.0), 1000.0);
    }
}
