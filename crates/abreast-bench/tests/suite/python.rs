//! The explainer's Python programs, run for real: each counts metas or sums squares as the Rust
//! rows do, fetches every page of a local server, and turns into a report row; a failing,
//! missing or hanging program gives a row that says so.
//!
//! These tests need python3 with `requests` and `aiohttp`. Where they are missing, the build
//! script marks the tests ignored, with what to install; CI installs them and requires them
//! (`ABREAST_REQUIRE_PYTHON=1`, see `.ci/run`), so there they always run.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use abreast_bench::python::{PYTHON_ENV_VAR, Program, Python, PythonCase, Skip, args};
use abreast_bench::{Mechanism, Report, SuiteReport, chart, export};

/// A page with two `<meta>` tags, as the test site serves it.
const PAGE: &str = "<html><head><meta charset=\"utf-8\">\n\
                    <meta name=\"description\" content=\"a test page\">\n\
                    </head><body>hello</body></html>";

/// Serves `PAGE` on 127.0.0.1 (a free port) to every request, one thread per connection,
/// for the rest of the test process. Returns the base URL.
fn serve_pages() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || respond(stream));
        }
    });
    format!("http://{address}")
}

/// Answers every request on the connection with `PAGE` until the client closes it.
fn respond(stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        // Skip the request line and headers.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{PAGE}",
            PAGE.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn urls_file(dir: &std::path::Path, base: &str, count: usize) -> OsString {
    let path = dir.join("urls.txt");
    let lines: String = (0..count).map(|n| format!("{base}/page/{n}\n")).collect();
    std::fs::write(&path, lines).unwrap();
    path.into_os_string()
}

/// The Python the bench would use, with every module the programs import; panics with what
/// to install where something is missing (a missing module is a real failure: CI installs them).
fn python() -> Python {
    let python = Python::find().unwrap_or_else(|skip| {
        panic!(
            "the bench's Python tests need python3: {skip} (set {PYTHON_ENV_VAR} to use another \
             interpreter)"
        )
    });
    for program in Program::EXPLAINER {
        if let Err(skip) = python.check(program) {
            panic!(
                "the bench's Python tests need the modules the programs import: {skip}; \
                 install them all with `python3 -m pip install requests aiohttp`"
            );
        }
    }
    python
}

#[test]
#[cfg_attr(
    not(explainer_python),
    ignore = "needs python3 with requests and aiohttp: python3 -m pip install requests aiohttp"
)]
fn a_missing_interpreter_or_module_is_a_skip_with_a_remedy() {
    let skip = Python::find_interpreter(Some("/no/such/python3".into())).unwrap_err();
    assert!(skip.to_string().contains(PYTHON_ENV_VAR), "{skip}");
    let python = python();
    assert!(python.version().starts_with("Python 3"));
    let skip = python
        .check_modules(&["abreast_no_such_module"])
        .unwrap_err();
    assert_eq!(
        skip.to_string(),
        "skipped: abreast_no_such_module is not installed; python3 -m pip install \
         abreast_no_such_module"
    );
    for program in Program::ALL {
        let source = std::fs::read_to_string(python.scripts_dir().join(program.file_name()));
        assert_eq!(source.unwrap(), program.source());
    }
}

#[test]
#[cfg_attr(
    not(explainer_python),
    ignore = "needs python3 with requests and aiohttp: python3 -m pip install requests aiohttp"
)]
fn cpu_regex_counts_metas_in_a_loop_and_in_a_pool() {
    let python = python();
    let pages = tempfile::tempdir().unwrap();
    for n in 0..6 {
        std::fs::write(pages.path().join(format!("{n}.html")), PAGE).unwrap();
    }
    for (mode, mechanism) in [
        ("loop", Mechanism::Sequential),
        ("pool", Mechanism::Processes),
    ] {
        let case = PythonCase {
            program: Program::CpuRegex,
            args: args([
                pages.path().as_os_str(),
                "--mode".as_ref(),
                mode.as_ref(),
                "--workers".as_ref(),
                "2".as_ref(),
            ]),
            mechanism,
            variant: Some("regex".to_owned()),
            workers: if mode == "loop" { 1 } else { 2 },
            tasks: 6,
        };
        let run = python
            .run(case.program, &case.args, Duration::from_secs(60))
            .unwrap();
        assert_eq!(run.output.metas, 12, "{run:?}");
        assert_eq!(run.output.mode.as_deref(), Some(mode));
        assert!(run.peak_memory_bytes > 1024 * 1024, "{run:?}");
        let row = python.measure(&case, 0, 2, Duration::from_secs(60));
        assert_eq!(row.wall.map(|wall| wall.runs), Some(2), "{row:?}");
        assert_eq!(row.label(), format!("python {mechanism} regex"));
        assert!(row.peak_memory_bytes.is_some_and(|bytes| bytes > 0));
    }
}

#[test]
#[cfg_attr(
    not(explainer_python),
    ignore = "needs python3 with requests and aiohttp: python3 -m pip install requests aiohttp"
)]
fn cpu_squares_sums_in_a_loop_and_in_a_pool() {
    let python = python();
    for (mode, mechanism) in [
        ("loop", Mechanism::Sequential),
        ("pool", Mechanism::Processes),
    ] {
        let case = PythonCase {
            program: Program::CpuSquares,
            args: args([
                "--tasks",
                "4",
                "--size",
                "1000",
                "--mode",
                mode,
                "--workers",
                "2",
            ]),
            mechanism,
            variant: Some("squares".to_owned()),
            workers: if mode == "loop" { 1 } else { 2 },
            tasks: 4,
        };
        let run = python
            .run(case.program, &case.args, Duration::from_secs(60))
            .unwrap();
        assert_eq!((run.output.tasks, run.output.ok), (4, 4), "{run:?}");
        let row = python.measure(&case, 1, 1, Duration::from_secs(60));
        assert_eq!(row.note, None, "{row:?}");
        assert_eq!(row.label(), format!("python {mechanism} squares"));
    }
}

#[test]
#[cfg_attr(
    not(explainer_python),
    ignore = "needs python3 with requests and aiohttp: python3 -m pip install requests aiohttp"
)]
fn fetch_programs_fetch_every_page_and_report_their_cpu() {
    let python = python();
    let base = serve_pages();
    let dir = tempfile::tempdir().unwrap();
    let urls = urls_file(dir.path(), &base, 20);
    for (program, mechanism) in [
        (Program::ThreadsFetch, Mechanism::Threads),
        (Program::AsyncFetch, Mechanism::Async),
        (Program::ProcessesFetch, Mechanism::Processes),
    ] {
        let case = PythonCase {
            program,
            args: args([urls.as_os_str(), "--workers".as_ref(), "4".as_ref()]),
            mechanism,
            variant: None,
            workers: 4,
            tasks: 20,
        };
        let row = python.measure(&case, 1, 1, Duration::from_secs(60));
        assert_eq!(row.note, None, "{row:?}");
        assert!(row.throughput.is_some_and(|rate| rate > 0.0), "{row:?}");
        assert!(row.cpu.is_some_and(|cpu| cpu.median > 0.0), "{row:?}");
        let run = python
            .run(program, &case.args, Duration::from_secs(60))
            .unwrap();
        assert_eq!((run.output.ok, run.output.metas), (20, 40), "{run:?}");
    }
}

#[test]
#[cfg_attr(
    not(explainer_python),
    ignore = "needs python3 with requests and aiohttp: python3 -m pip install requests aiohttp"
)]
fn measured_rows_go_through_every_exporter() {
    let python = python();
    let case = PythonCase {
        program: Program::CpuSquares,
        args: args(["--tasks", "2", "--size", "1000", "--mode", "loop"]),
        mechanism: Mechanism::Sequential,
        variant: Some("squares".to_owned()),
        workers: 1,
        tasks: 2,
    };
    let missing = PythonCase {
        program: Program::CpuRegex,
        variant: Some("regex".to_owned()),
        ..case.clone()
    };
    let mut report = Report::new(1, 2);
    report.suites.push(SuiteReport {
        name: "cpu".to_owned(),
        description: "a tiny run".to_owned(),
        unit: "tasks".to_owned(),
        rows: vec![
            python.measure(&case, 1, 2, Duration::from_secs(60)),
            missing.skipped_row(Skip("abreast_test is not installed".to_owned()).to_string()),
        ],
    });
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    export::export_json(&report, &path("r.json")).unwrap();
    export::export_markdown(&report, &path("r.md")).unwrap();
    export::export_csv(&report, &path("r.csv")).unwrap();
    chart::export_svg(&report, &path("r.svg")).unwrap();
    let json = std::fs::read_to_string(path("r.json")).unwrap();
    assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
    let markdown = std::fs::read_to_string(path("r.md")).unwrap();
    assert!(
        markdown.contains("| python sequential squares | 1 | 2 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("skipped: abreast\\_test is not installed"),
        "{markdown}"
    );
    assert_eq!(
        std::fs::read_to_string(path("r.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    let svg = std::fs::read_to_string(path("r.svg")).unwrap();
    assert!(svg.contains("python sequential squares"), "{svg}");
}

#[test]
#[cfg_attr(
    not(explainer_python),
    ignore = "needs python3 with requests and aiohttp: python3 -m pip install requests aiohttp"
)]
fn a_program_past_its_timeout_is_killed_with_its_workers() {
    let python = python();
    // A server that accepts connections (in the backlog) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let urls = urls_file(
        dir.path(),
        &format!("http://{}", silent.local_addr().unwrap()),
        2,
    );
    let start = Instant::now();
    let error = python
        .run(
            Program::ProcessesFetch,
            &args([urls.as_os_str(), "--workers".as_ref(), "2".as_ref()]),
            Duration::from_millis(1500),
        )
        .unwrap_err()
        .to_string();
    assert!(error.contains("did not finish within"), "{error}");
    // The pipes closed, so the worker processes are gone too (else this would wait 30 s).
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
#[cfg_attr(
    not(explainer_python),
    ignore = "needs python3 with requests and aiohttp: python3 -m pip install requests aiohttp"
)]
fn a_failing_program_gives_a_failed_row() {
    let python = python();
    let case = PythonCase {
        program: Program::CpuRegex,
        args: args(["--no-such-option"]),
        mechanism: Mechanism::Sequential,
        variant: None,
        workers: 1,
        tasks: 1,
    };
    let row = python.measure(&case, 0, 1, Duration::from_secs(60));
    let note = row.note.unwrap();
    assert!(
        note.starts_with("failed: cpu_regex.py failed (exit code 2)"),
        "{note}"
    );
    assert!(row.wall.is_none());
}

#[test]
#[cfg_attr(
    not(explainer_python),
    ignore = "needs python3 with requests and aiohttp: python3 -m pip install requests aiohttp"
)]
fn async_fetch_trusts_the_test_site_ca_and_resolves_through_its_name_server() {
    let python = python();
    let site = abreast_site::Site::start_in_background(
        abreast_site::SiteConfig::default()
            .pages(6)
            .page_size(4096)
            .tls(true)
            .dns(Some("127.0.0.1:0".parse().unwrap())),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, site.ca_pem().unwrap()).unwrap();
    let port = site.addr().port();
    let list = dir.path().join("urls.txt");
    let lines: String = (0..6)
        .map(|n| format!("https://h{}.site.test:{port}/page/{n}\n", n % 3))
        .collect();
    std::fs::write(&list, lines).unwrap();
    let case = PythonCase {
        program: Program::AsyncFetch,
        args: args([
            list.as_os_str(),
            "--workers".as_ref(),
            "10".as_ref(),
            "--cafile".as_ref(),
            ca.as_os_str(),
            "--dns-server".as_ref(),
            site.dns_addr().unwrap().to_string().as_ref(),
        ]),
        mechanism: Mechanism::Async,
        variant: None,
        workers: 10,
        tasks: 6,
    };
    let run = python
        .run(case.program, &case.args, Duration::from_secs(60))
        .unwrap();
    assert_eq!((run.output.tasks, run.output.ok), (6, 6), "{run:?}");
    let counters = site.counters();
    for host in ["h0.site.test", "h1.site.test", "h2.site.test"] {
        assert!(counters.tls_connections_for(host) >= 1, "{host}");
        assert_eq!(
            counters.dns_queries_for(host, "A"),
            1,
            "{host}: aiohttp caches"
        );
        assert_eq!(counters.dns_queries_for(host, "AAAA"), 0, "{host}");
    }
}
