//! `abreast fetch` end to end: formats, exit codes, resume, stdin, usage errors, Ctrl-C.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use abreast_site::{Site, SiteConfig};

use crate::util::{abreast, run_expecting};

fn site() -> abreast_site::BackgroundSite {
    Site::start_in_background(SiteConfig::default().pages(50).page_size(4096)).unwrap()
}

/// The records of `output`, one per JSON line.
fn records_of(output: &str) -> Vec<serde_json::Value> {
    output
        .lines()
        .map(|line| serde_json::from_str(line).expect("whole JSON lines"))
        .collect()
}

/// The `url` of each JSON line of `output`.
fn urls_of(output: &str) -> Vec<String> {
    records_of(output)
        .iter()
        .map(|record| {
            record["url"]
                .as_str()
                .expect("every record has a url")
                .to_owned()
        })
        .collect()
}

fn write_urls(dir: &std::path::Path, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join("urls.txt");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

#[test]
fn all_good_exits_0_and_writes_one_json_line_per_url() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..30)
        .map(|n| format!("{}/page/{n}", site.base_url()))
        .collect();
    let urls = write_urls(dir.path(), &lines);
    for mode in ["threads", "async", "processes", "hybrid"] {
        let (stdout, stderr) =
            run_expecting(abreast().arg("fetch").arg(&urls).args(["--mode", mode]), 0);
        let records = records_of(&stdout);
        assert_eq!(records.len(), 30, "{mode}");
        assert!(
            records
                .iter()
                .all(|r| r["ok"] == true && r["title"].is_string())
        );
        assert!(
            stderr.contains("30 records") && stderr.contains("30 ok"),
            "{stderr}"
        );
        assert!(stderr.contains("p95"), "{stderr}");
    }
}

#[test]
fn some_failed_exits_1_and_csv_has_a_row_per_line() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let lines = vec![
        format!("{}/page/1", site.base_url()),
        format!("{}/page/99999", site.base_url()),
        "# a comment".to_owned(),
        String::new(),
        "javascript:alert(1)".to_owned(),
    ];
    let urls = write_urls(dir.path(), &lines);
    let out = dir.path().join("out.csv");
    run_expecting(
        abreast()
            .arg("fetch")
            .arg(&urls)
            .args(["--format", "csv", "-o"])
            .arg(&out),
        1,
    );
    let mut reader = csv::Reader::from_path(&out).unwrap();
    assert_eq!(&reader.headers().unwrap()[0], "url");
    let kinds: Vec<String> = reader.records().map(|r| r.unwrap()[4].to_owned()).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(sorted, ["", "status", "unsupported_scheme"]);
}

#[test]
fn stdin_input_and_ordered_output() {
    let site = site();
    let lines: Vec<String> = (0..40)
        .map(|n| format!("{}/page/{n}", site.base_url()))
        .collect();
    let mut child = abreast()
        .args(["fetch", "-", "--ordered", "--head-only"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.join("\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let urls = urls_of(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(urls, lines);
}

#[test]
fn resume_appends_only_what_is_missing() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..20)
        .map(|n| format!("{}/page/{n}", site.base_url()))
        .collect();
    let first = write_urls(dir.path(), &lines[..8]);
    let out = dir.path().join("out.jsonl");
    run_expecting(abreast().arg("fetch").arg(&first).arg("-o").arg(&out), 0);
    let all = write_urls(dir.path(), &lines);
    let (_, stderr) = run_expecting(
        abreast()
            .arg("fetch")
            .arg(&all)
            .arg("-o")
            .arg(&out)
            .arg("--resume"),
        0,
    );
    assert!(stderr.contains("8 already done"), "{stderr}");
    let mut urls = urls_of(&std::fs::read_to_string(&out).unwrap());
    urls.sort();
    let mut expected = lines.clone();
    expected.sort();
    assert_eq!(urls, expected, "none twice, none missing");
}

#[test]
fn usage_errors_exit_2() {
    let (_, stderr) = run_expecting(abreast().args(["fetch", "--resume"]), 2);
    assert!(stderr.contains("--output"), "{stderr}");
    let (_, stderr) = run_expecting(abreast().args(["fetch", "--mode", "fibers"]), 2);
    assert!(
        stderr.contains("threads, async, processes or hybrid"),
        "{stderr}"
    );
    let (_, stderr) = run_expecting(abreast().args(["fetch", "--shard", "3/3"]), 2);
    assert!(stderr.contains("0 <= K < N"), "{stderr}");
    let (_, stderr) = run_expecting(abreast().args(["fetch", "/no/such/file"]), 2);
    assert!(stderr.contains("could not open the input"), "{stderr}");
    let (_, stderr) = run_expecting(abreast().args(["fetch", "--head-only", "--no-extract"]), 2);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let (_, stderr) = run_expecting(abreast().args(["fetch", "--connect-timeout", "0s"]), 2);
    assert!(stderr.contains("a time limit of 0"), "{stderr}");
    let (_, stderr) = run_expecting(
        abreast().args([
            "fetch",
            "--broker",
            "redis://127.0.0.1:9",
            "--job",
            "j",
            "--lease",
            "0s",
        ]),
        2,
    );
    assert!(stderr.contains("a time limit of 0"), "{stderr}");
    for rate in ["1e-300", "1e-19"] {
        let (_, stderr) = run_expecting(abreast().args(["fetch", "--rate", rate]), 2);
        assert!(stderr.contains("at least 0.000001"), "{stderr}");
    }
    // The list as its own output: refused before it is emptied.
    let folder = tempfile::tempdir().unwrap();
    let list = folder.path().join("urls.txt");
    std::fs::write(&list, "http://127.0.0.1:9/\n").unwrap();
    let (_, stderr) = run_expecting(abreast().arg("fetch").arg(&list).arg("-o").arg(&list), 2);
    assert!(stderr.contains("would erase its URLs"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&list).unwrap(),
        "http://127.0.0.1:9/\n"
    );
    // A folder as the list: named, with what to give instead, the cause said once.
    let folder = tempfile::tempdir().unwrap();
    let (_, stderr) = run_expecting(abreast().arg("fetch").arg(folder.path()), 2);
    assert!(
        stderr.contains("is a folder: give a file of URLs"),
        "{stderr}"
    );
    assert_eq!(stderr.matches(folder.path().to_str().unwrap()).count(), 1);
    // Headers HTTP cannot carry are refused as the flags are read, in every mode alike.
    let (_, stderr) = run_expecting(abreast().args(["fetch", "--user-agent", "a\nb"]), 2);
    assert!(stderr.contains("--user-agent"), "{stderr}");
    assert!(stderr.contains("a line break"), "{stderr}");
    let (_, stderr) = run_expecting(abreast().args(["fetch", "-H", "X-A: a\u{1}b"]), 2);
    assert!(stderr.contains("--header"), "{stderr}");
    assert!(
        stderr.contains("the control character 0x01 at byte 1"),
        "{stderr}"
    );
    // Values Python refuses too: a blank User-Agent, a cap of 0 bytes, a name server on port 0.
    for (flag, value, said) in [
        ("--user-agent", " ", "the User-Agent is blank"),
        ("-H", "User-Agent:", "the User-Agent is blank"),
        ("--max-bytes", "0", "a cap of 0 bytes keeps nothing"),
        (
            "--dns-server",
            "127.0.0.1:0",
            "port 0, where no name server listens",
        ),
    ] {
        let (_, stderr) = run_expecting(abreast().args(["fetch", flag, value]), 2);
        assert!(stderr.contains(said), "{flag} {value}: {stderr}");
    }
}

#[test]
fn no_extract_writes_the_fetch_fields_only() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let lines = vec![
        format!("{}/page/1", site.base_url()),
        format!("{}/page/99999", site.base_url()),
    ];
    let urls = write_urls(dir.path(), &lines);
    let (stdout, _) = run_expecting(
        abreast()
            .arg("fetch")
            .arg(&urls)
            .args(["--no-extract", "--ordered"]),
        1,
    );
    let records = records_of(&stdout);
    assert_eq!(records.len(), 2);
    let (page, missing) = (&records[0], &records[1]);
    assert_eq!((&page["ok"], &page["status"]), (&true.into(), &200.into()));
    assert_eq!(page["bytes"], 4096, "the body was read and counted");
    assert!(page["title"].is_null() && page["meta"] == serde_json::json!([]));
    assert_eq!(missing["error"]["kind"], "status");
}

/// Starts `abreast fetch --grace GRACE` on URLs that stall, waits for its first record, sends
/// SIGINT(s).
fn interrupted(mode: &str, signals: usize, grace: &str) -> (Option<i32>, String, String, Duration) {
    interrupted_by(mode, signals, grace, Stop::Interrupt)
}

/// How a test stops a run: SIGINT to abreast, or SIGTERM to its whole process group (its
/// worker processes included), as `timeout` and systemd do.
#[derive(Clone, Copy)]
enum Stop {
    Interrupt,
    TerminateGroup,
}

/// [`interrupted`], stopped by `stop`.
fn interrupted_by(
    mode: &str,
    signals: usize,
    grace: &str,
    stop: Stop,
) -> (Option<i32>, String, String, Duration) {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = (0..5)
        .map(|n| format!("{}/page/{n}", site.base_url()))
        .collect();
    lines.extend((0..20).map(|_| format!("{}/fault/stall", site.base_url())));
    let urls = write_urls(dir.path(), &lines);
    let out = dir.path().join("out.jsonl");
    let mut command = abreast();
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .arg("fetch")
        .arg(&urls)
        .args([
            "--mode",
            mode,
            "--ordered",
            "--timeout",
            "600s",
            "--grace",
            grace,
            "-j",
            "8",
            "-o",
        ])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (boundedly) until the five good pages are written.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&out).map_or(0, |t| t.lines().count()) < 5 {
        assert!(Instant::now() < deadline, "no records were written");
        std::thread::sleep(Duration::from_millis(20));
    }
    let start = Instant::now();
    for _ in 0..signals {
        let pid = child.id() as i32;
        // SAFETY: kill has no memory-safety preconditions; the pid (and process group) is our
        // own child's.
        match stop {
            Stop::Interrupt => unsafe { libc::kill(pid, libc::SIGINT) },
            Stop::TerminateGroup => unsafe { libc::kill(-pid, libc::SIGTERM) },
        };
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stderr = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .lines()
        .for_each(|line| stderr.push_str(&(line.unwrap() + "\n")));
    let status = child.wait().unwrap();
    let output = std::fs::read_to_string(&out).unwrap();
    (status.code(), stderr, output, start.elapsed())
}

#[test]
fn first_ctrl_c_drains_flushes_summarizes_and_exits_130() {
    for mode in ["threads", "async", "processes", "hybrid"] {
        // The stalled requests would take 600 s; the grace period ends them after 1 s, and only
        // a hang takes the two minutes.
        let (code, stderr, output, took) = interrupted(mode, 1, "1s");
        assert_eq!(code, Some(130), "{mode}: {stderr}");
        assert!(took < Duration::from_secs(120), "{mode}: took {took:?}");
        assert!(
            stderr.contains("interrupted") && stderr.contains("--resume"),
            "{stderr}"
        );
        for line in output.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("only whole lines");
        }
        assert_eq!(
            output.lines().count(),
            5,
            "{mode}: the stalled URLs have no record"
        );
    }
}

#[test]
fn a_sigterm_to_the_process_group_drains_as_ctrl_c_does() {
    // The worker processes get it too: they leave it to abreast, so the URLs in flight get no
    // record (and --resume fetches them), where a worker killed by it failed them for good.
    let (code, stderr, output, _) = interrupted_by("processes", 1, "1s", Stop::TerminateGroup);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!output.contains("lost its worker"), "{output}");
    assert_eq!(output.lines().count(), 5, "the stalled URLs have no record");
}

/// Stopped with nothing in flight, a run ends at once, though its input (a pipe) is still open
/// and its grace is ten minutes: there is nothing to give the grace to.
#[test]
fn a_stop_with_nothing_in_flight_ends_at_once_in_every_mode() {
    let site = site();
    for mode in ["hybrid", "threads", "async", "processes"] {
        let mut child = abreast()
            .args(["fetch", "-", "--mode", mode, "--grace", "600s"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        writeln!(input, "{}/page/1", site.base_url()).unwrap();
        input.flush().unwrap();
        let mut record = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut record)
            .unwrap();
        assert!(record.contains("/page/1"), "{mode}: {record}");
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{mode}: the run waited its grace with nothing in flight"
            );
            std::thread::sleep(Duration::from_millis(25));
        };
        assert_eq!(status.code(), Some(130), "{mode}");
        drop(input);
    }
}

#[test]
fn second_ctrl_c_exits_at_once() {
    // A grace period of ten minutes: only the second Ctrl-C ends the run within one.
    let (code, _, output, took) = interrupted("async", 2, "600s");
    assert_eq!(code, Some(130));
    assert!(took < Duration::from_secs(300), "took {took:?}");
    for line in output.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("only whole lines");
    }
}

/// Runs `abreast fetch -` on `count` URLs made by `url`, written to its stdin as it reads
/// them, and returns its peak resident memory in bytes: the kernel's high-water mark
/// (`VmHWM`), read once every record is out but before the input ends, so the process is
/// still alive and its peak is behind it. (`wait4`'s `ru_maxrss` would not do: on Linux it
/// starts from the size of the process that spawned the child.)
#[cfg(target_os = "linux")]
fn peak_memory_of_fetch(count: usize, url: impl Fn(usize) -> String + Send + 'static) -> u64 {
    let mut child = abreast()
        .args(["fetch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut input = std::io::BufWriter::new(stdin);
        for n in 0..count {
            writeln!(input, "{}", url(n)).unwrap();
        }
        input.flush().unwrap();
        input // kept open until the peak is read
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut records = 0;
    while records < count {
        let chunk = stdout.fill_buf().unwrap();
        assert!(
            !chunk.is_empty(),
            "abreast fetch ended after {records} records"
        );
        records += chunk.iter().filter(|&&byte| byte == b'\n').count();
        let length = chunk.len();
        stdout.consume(length);
    }
    let input = feeder.join().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let kilobytes: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("/proc/PID/status has VmHWM");
    drop(input);
    child.wait().unwrap();
    kilobytes * 1024
}

fn refused_line(_: &str, n: usize) -> String {
    format!("ftp://example.invalid/file-{n}")
}

/// One of the test site's 50 pages, the URL made unique by a query.
fn site_page(base: &str, n: usize) -> String {
    format!("{base}/page/{}?n={n}", n % 50)
}

/// Makes the URL of input line `n`, given the test site's base URL.
type UrlMaker = fn(&str, usize) -> String;

#[test]
#[cfg(target_os = "linux")]
fn memory_stays_flat_when_the_input_grows_tenfold() {
    let site = site();
    // Refused lines measure the input and the records alone: keeping 12 bytes per line would
    // exceed the allowance. Fetched pages measure the whole fetch, whose peak varies by a few
    // MB with timing: keeping 250 bytes per page would exceed the allowance.
    let cases: [(&str, usize, UrlMaker, u64); 2] = [
        ("refused lines", 40_000, refused_line, 4),
        ("fetched pages", 4_000, site_page, 8),
    ];
    for (what, lines, url, allowance_mib) in cases {
        let [small, large] = [lines, 10 * lines].map(|count| {
            let base = site.base_url().to_owned();
            peak_memory_of_fetch(count, move |n| url(&base, n))
        });
        assert!(
            large <= small + allowance_mib * 1024 * 1024,
            "{what}: peak memory grew from {small} bytes for {lines} to {large} for {}",
            10 * lines
        );
        eprintln!(
            "{what}: peak memory {small} bytes for {lines}, {large} for {}",
            10 * lines
        );
    }
}

#[test]
fn each_record_comes_out_while_the_input_is_still_open() {
    let site = site();
    for mode in ["threads", "async", "processes", "hybrid"] {
        let mut child = abreast()
            .args(["fetch", "-", "--mode", mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}/page/1", site.base_url()).unwrap();
        stdin.flush().unwrap();
        // Read the first record on a thread, so a driver that waits for more input before
        // writing it fails the test instead of hanging it.
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let first = receiver.recv_timeout(Duration::from_secs(30));
        drop(stdin);
        let status = child.wait().unwrap();
        let first = first.unwrap_or_else(|_| {
            panic!("{mode}: no record within 30 s while the input stayed open")
        });
        assert!(
            first.contains("/page/1") && first.contains("\"ok\":true"),
            "{mode}: {first}"
        );
        assert_eq!(status.code(), Some(0), "{mode}");
    }
}
