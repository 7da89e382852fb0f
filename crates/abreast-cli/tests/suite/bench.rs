//! `abreast --help`, `--version` and `abreast bench`: the overhead suite's JSON lines, a tiny
//! end-to-end run of every suite with every exporter and the chart, the fetch suite against a
//! server given by its base URL, and `abreast serve --export` (the pages for such a server).

use crate::util::{abreast, run_expecting};

#[test]
fn help_and_version() {
    let (help, _) = run_expecting(abreast().arg("--help"), 0);
    for command in ["fetch", "serve", "bench"] {
        assert!(help.contains(command), "{help}");
    }
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
    run_expecting(abreast().args(["bench", "no-such-suite"]), 2);
    // --hosts and --tls-pages belong to --tls, which has no --base-url.
    let (_, stderr) = run_expecting(abreast().args(["bench", "fetch", "--hosts", "3"]), 2);
    assert!(stderr.contains("--tls"), "{stderr}");
    let (_, stderr) = run_expecting(
        abreast().args([
            "bench",
            "fetch",
            "--tls",
            "--base-url",
            "http://127.0.0.1:1/",
        ]),
        2,
    );
    assert!(stderr.contains("--base-url"), "{stderr}");
    run_expecting(
        abreast().args(["bench", "fetch", "--tls", "--hosts", "0"]),
        2,
    );
}

fn overhead_args() -> [&'static str; 8] {
    [
        "bench",
        "overhead",
        "--tasks",
        "2000",
        "--runs",
        "1",
        "--waiting",
        "2000",
    ]
}

#[test]
fn overhead_json_has_a_row_per_case() {
    let (stdout, _) = run_expecting(abreast().args(overhead_args()).arg("--json"), 0);
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect();
    let cases: Vec<(&str, &str)> = rows
        .iter()
        .filter(|row| row["suite"] == "overhead")
        .map(|row| {
            (
                row["mechanism"].as_str().unwrap(),
                row["op"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("threads", "submit+join"),
        ("threads", "map"),
        ("async", "spawn+join"),
        ("async", "gather_bounded"),
        ("async", "waiting (gathered)"),
        ("async", "waiting (spawned)"),
    ] {
        assert!(
            cases.contains(&expected),
            "missing {expected:?} in {cases:?}"
        );
    }
    assert!(cases.contains(&("processes", "submit+join")), "{cases:?}");
    assert!(
        cases.contains(&("processes", "map (auto chunks)")),
        "{cases:?}"
    );
    let startup: Vec<&str> = rows
        .iter()
        .filter(|row| row["suite"] == "startup")
        .map(|row| row["mechanism"].as_str().unwrap())
        .collect();
    assert_eq!(startup, ["threads", "async", "processes"]);
    for row in rows.iter().filter(|row| row["suite"] == "overhead") {
        if row["op"].as_str().unwrap().starts_with("waiting") {
            assert!(row["bytes_per_task"].as_f64().unwrap() > 0.0, "{row}");
        } else {
            assert_eq!(row["tasks"], 2000);
            assert!(row["us_per_task"].as_f64().unwrap() > 0.0, "{row}");
        }
    }
}

#[test]
fn overhead_table_is_readable() {
    let (stdout, _) = run_expecting(abreast().args(overhead_args()), 0);
    assert!(stdout.contains("mechanism"), "{stdout}");
    assert!(stdout.contains("bytes per waiting coroutine"), "{stdout}");
    assert!(stdout.contains("faster than"), "{stdout}");
}

#[test]
fn a_tiny_run_of_every_suite_exports_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (stdout, _) = run_expecting(
        abreast()
            .args([
                "bench",
                "all",
                "--warmup",
                "0",
                "--runs",
                "1",
                "--pages",
                "20",
                "--latency",
                "5ms",
                "--throughput-pages",
                "20",
                "--page-size",
                "8K",
                "--cpu-pages",
                "10",
                "--square-tasks",
                "2",
                "--square-size",
                "1000",
                "--tasks",
                "500",
                "--waiting",
                "500",
            ])
            .arg("--export-json")
            .arg(path("report.json"))
            .arg("--export-markdown")
            .arg(path("report.md"))
            .arg("--export-csv")
            .arg(path("report.csv"))
            .arg("--chart")
            .arg(path("report.svg")),
        0,
    );
    let suites = [
        "fetch",
        "fetch-throughput",
        "cpu",
        "cpu-compute",
        "overhead",
        "startup",
    ];
    for suite in suites {
        assert!(
            stdout.contains(&format!("{suite}:")),
            "{suite} missing from\n{stdout}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("report.json")).unwrap()).unwrap();
    let names: Vec<&str> = report["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, suites);
    for suite in report["suites"].as_array().unwrap() {
        assert!(!suite["rows"].as_array().unwrap().is_empty(), "{suite}");
    }
    let markdown = std::fs::read_to_string(path("report.md")).unwrap();
    assert!(markdown.contains("| mechanism"), "{markdown}");
    let csv = std::fs::read_to_string(path("report.csv")).unwrap();
    assert!(csv.lines().count() > 10, "{csv}");
    let svg = std::fs::read_to_string(path("report.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
}

#[test]
fn fetch_against_a_base_url_reports_client_cpu_per_page() {
    let site = abreast_site::Site::start_in_background(
        abreast_site::SiteConfig::default()
            .pages(30)
            .page_size(4096),
    )
    .unwrap();
    let (stdout, _) = run_expecting(
        abreast().args([
            "bench",
            "fetch",
            "--warmup",
            "0",
            "--runs",
            "1",
            "--pages",
            "30",
            "--base-url",
            &format!("{}/", site.base_url()),
            "--json",
        ]),
        0,
    );
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let rust: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|row| row["implementation"] == "rust")
        .collect();
    assert_eq!(rust.len(), 5, "{stdout}");
    assert_eq!(
        rust.iter()
            .filter(|row| row["op"] == "no extraction" && row["mechanism"] == "async")
            .count(),
        1,
        "the row that does curl's work: {stdout}"
    );
    for row in rust {
        assert_eq!(row["suite"], "fetch-external");
        assert!(row["cpu_us_per_task"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row.get("server_cpu_s").is_none(), "{row}");
    }
    assert!(
        rows.iter().any(|row| row["implementation"] == "curl"),
        "{stdout}"
    );
    let (stdout, _) = run_expecting(
        abreast().args([
            "bench",
            "fetch",
            "--warmup",
            "0",
            "--runs",
            "1",
            "--pages",
            "10",
            "--base-url",
            site.base_url(),
            "--no-curl",
        ]),
        0,
    );
    assert!(!stdout.contains("curl"), "{stdout}");
    assert!(stdout.contains("fetch-external: 10 pages from"), "{stdout}");
    // The base URL replaces the test site's latency and throughput part: giving both is an error.
    let (_, stderr) = run_expecting(
        abreast().args([
            "bench",
            "fetch",
            "--base-url",
            site.base_url(),
            "--latency",
            "5ms",
        ]),
        2,
    );
    assert!(stderr.contains("--latency"), "{stderr}");
    let (_, stderr) = run_expecting(
        abreast().args(["bench", "fetch", "--base-url", "127.0.0.1:8080"]),
        2,
    );
    assert!(stderr.contains("http://"), "{stderr}");
}

#[test]
fn serve_export_writes_the_pages_the_site_serves() {
    let dir = tempfile::tempdir().unwrap();
    run_expecting(
        abreast()
            .args(["serve", "--pages", "5", "--page-size", "4K", "--export"])
            .arg(dir.path())
            .args(["--base-url", "http://127.0.0.1:8080/"]),
        0,
    );
    let config = abreast_site::SiteConfig::default().pages(5).page_size(4096);
    for n in 0..5 {
        let file = std::fs::read(dir.path().join(format!("page/{n}"))).unwrap();
        assert_eq!(
            file,
            abreast_site::page_html(&config, "http://127.0.0.1:8080", n).unwrap()
        );
    }
    assert!(!dir.path().join("page/5").exists());
    // --base-url only means something with --export.
    run_expecting(
        abreast().args(["serve", "--base-url", "http://127.0.0.1:8080/"]),
        2,
    );
}
