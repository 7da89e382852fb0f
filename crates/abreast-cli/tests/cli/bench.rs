//! `abreast --help`, `--version` and `abreast bench overhead`.

use crate::util::{abreast, run_expecting};

#[test]
fn help_and_version() {
    let (help, _) = run_expecting(abreast().arg("--help"), 0);
    assert!(help.contains("bench"), "{help}");
    let (version, _) = run_expecting(abreast().arg("--version"), 0);
    assert_eq!(
        version.trim(),
        format!("abreast {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2() {
    let (_, stderr) = run_expecting(abreast().args(["bench", "overhead", "--tasks", "0"]), 2);
    assert!(stderr.contains("--tasks"), "{stderr}");
    run_expecting(abreast().arg("no-such-command"), 2);
}

#[test]
fn overhead_json_has_a_row_per_case() {
    let (stdout, _) = run_expecting(
        abreast().args([
            "bench",
            "overhead",
            "--json",
            "--tasks",
            "2000",
            "--runs",
            "1",
            "--waiting",
            "2000",
        ]),
        0,
    );
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect();
    let cases: Vec<(String, String)> = rows
        .iter()
        .map(|row| {
            (
                row["mechanism"].as_str().unwrap().to_owned(),
                row["op"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("threads", "submit+join"),
        ("threads", "map"),
        ("async", "spawn+join"),
        ("async", "gather_bounded"),
        ("async", "sleeping"),
    ] {
        assert!(
            cases
                .iter()
                .any(|(m, o)| (m.as_str(), o.as_str()) == expected),
            "missing {expected:?} in {cases:?}"
        );
    }
    for row in &rows {
        if row["op"] == "sleeping" || row["op"] == "spawned+sleeping" {
            assert!(row["bytes_per_task"].as_f64().unwrap() > 0.0, "{row}");
        } else {
            assert_eq!(row["tasks"], 2000);
            assert!(row["us_per_task"].as_f64().unwrap() > 0.0, "{row}");
        }
    }
}

#[test]
fn overhead_table_is_readable() {
    let (stdout, _) = run_expecting(
        abreast().args([
            "bench",
            "overhead",
            "--tasks",
            "500",
            "--runs",
            "1",
            "--waiting",
            "500",
        ]),
        0,
    );
    let header = stdout.lines().next().unwrap();
    assert!(header.starts_with("mechanism"), "{stdout}");
    assert!(stdout.contains("µs"), "{stdout}");
}
