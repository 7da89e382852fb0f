//! Snapshot tests of every exporter (text, JSON, Markdown, CSV) and of the SVG chart, on one fixed
//! report (`tests/snapshots/report.input.json`): a change to any output shows as a diff of its
//! snapshot. `UPDATE_SNAPSHOTS=1 cargo test -p abreast-bench` rewrites them; review with git diff.

use std::io::Write;
use std::path::Path;

use abreast_bench::export::{
    escape_markdown, export_csv, export_json, write_csv, write_json, write_markdown,
};
use abreast_bench::{BenchError, Report, chart};

/// The fixed report behind the snapshot tests.
fn fixed_report() -> Report {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/report.input.json"
    );
    let text = std::fs::read_to_string(path).expect("the fixed report is readable");
    serde_json::from_str(&text).expect("the fixed report parses")
}

/// Compares `actual` with the snapshot file `name` under `tests/snapshots/`, exactly.
/// `UPDATE_SNAPSHOTS=1` rewrites the file instead; review the change with `git diff`.
fn assert_snapshot(name: &str, actual: &str) {
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

fn written(write: fn(&Report, &mut dyn Write) -> std::io::Result<()>) -> String {
    let mut bytes = Vec::new();
    write(&fixed_report(), &mut bytes).unwrap();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn text_snapshot_and_json_round_trip() {
    let report = fixed_report();
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
    assert_snapshot("report.txt", &report.render_text());
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
    assert!(markdown.contains("the CPU per page of curl"), "{markdown}");
}

#[test]
fn csv_snapshot_has_a_line_per_row() {
    let csv = written(write_csv);
    assert_snapshot("report.csv", &csv);
    let rows: usize = fixed_report().suites.iter().map(|s| s.rows.len()).sum();
    assert_eq!(csv.lines().count(), rows + 1);
    assert!(csv.lines().next().unwrap().contains("cpu_seconds_per_task"));
}

#[test]
fn svg_snapshot() {
    let svg = chart::render_svg(&fixed_report());
    assert_snapshot("report.svg", &svg);
    assert_eq!(
        chart::render_svg(&fixed_report()),
        svg,
        "the chart is deterministic"
    );
}

#[test]
fn the_svg_is_well_formed_and_escapes_text() {
    let svg = chart::render_svg(&fixed_report());
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>\n"));
    // The cpu suite's description names the <meta> tag: it must arrive escaped.
    assert!(svg.contains("&lt;meta&gt;"));
    assert!(!svg.contains("<meta"));
    for element in ["rect", "text", "line", "path"] {
        let opened = svg.matches(&format!("<{element} ")).count();
        let closed = svg.matches(&format!("</{element}>")).count()
            + svg
                .split(&format!("<{element} "))
                .skip(1)
                .filter(|rest| rest.split('>').next().is_some_and(|tag| tag.ends_with('/')))
                .count();
        assert_eq!(opened, closed, "every <{element}> is closed");
    }
}

#[test]
fn exports_to_a_file_and_reports_a_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.csv");
    export_csv(&fixed_report(), &path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written(write_csv));
    let error = export_json(&fixed_report(), &dir.path().join("no/such/report.json")).unwrap_err();
    assert!(matches!(error, BenchError::Export { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("could not write the JSON report to") && message.contains("exists"),
        "{message}"
    );
}

#[test]
fn markdown_escapes_table_breakers() {
    assert_eq!(escape_markdown("a|b*c_d"), "a\\|b\\*c\\_d");
}
