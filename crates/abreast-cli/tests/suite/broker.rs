//! `abreast fetch --broker`, `abreast worker` and `abreast status` end to end, against a real
//! `redis-server` each test starts for itself (on a free port, in a temporary folder; a
//! machine without one fails these tests with a message saying to install it) and the test
//! site: nothing lost or repeated when a worker, the collector or the broker dies, poison
//! lines given up, politeness job-wide, SIGTERM handing back, idempotent submission, status,
//! secrets, foreign entries.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use abreast_queue::LocalRedis;
use abreast_site::{Latency, Site, SiteConfig};

use crate::util::{abreast, run_expecting, wait_for};

fn redis() -> LocalRedis {
    LocalRedis::start().expect(
        "redis-server must be installed for the broker's tests (apt-get install redis-server)",
    )
}

fn site(latency_ms: u64) -> abreast_site::BackgroundSite {
    let latency: Latency = format!("{latency_ms}ms").parse().expect("a latency");
    Site::start_in_background(
        SiteConfig::default()
            .pages(200)
            .page_size(2048)
            .latency(latency),
    )
    .unwrap()
}

fn urls(site: &abreast_site::BackgroundSite, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{}/page/{i}", site.base_url()))
        .collect()
}

fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The records of a JSON lines file.
fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("whole JSON lines"))
        .collect()
}

/// How many records each URL has.
fn counts(records: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for record in records {
        *counts
            .entry(record["url"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

/// Asserts exactly one record per line of `lines` (a multiset: repeated lines, repeated
/// records).
fn assert_one_record_per_line(path: &Path, lines: &[String]) {
    let mut expected = BTreeMap::new();
    for line in lines {
        *expected.entry(line.clone()).or_insert(0) += 1;
    }
    assert_eq!(
        counts(&records(path)),
        expected,
        "one record per input line"
    );
}

/// A child `abreast` process, its stderr in a file, killed when dropped.
struct Running {
    child: Child,
    stderr: PathBuf,
}

impl Running {
    fn start(command: &mut Command, dir: &Path, name: &str) -> Running {
        let stderr = dir.join(format!("{name}.stderr"));
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("abreast starts");
        Running { child, stderr }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "waited 90 s for abreast to exit; its stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn has_exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

fn worker(redis: &LocalRedis, dir: &Path, name: &str, extra: &[&str]) -> Running {
    Running::start(
        abreast()
            .args(["worker", "--broker", &redis.url(), "--mode", "async"])
            .args(extra),
        dir,
        name,
    )
}

fn collector(redis: &LocalRedis, input: &Path, job: &str, out: &Path, extra: &[&str]) -> Command {
    let mut command = abreast();
    command
        .arg("fetch")
        .arg(input)
        .args(["--broker", &redis.url(), "--job", job, "-o"])
        .arg(out)
        .args(extra);
    command
}

/// `abreast fetch - --broker` for `job` into `out`, and the pipe to its standard input.
fn collector_of_stdin(
    redis: &LocalRedis,
    dir: &Path,
    job: &str,
    out: &Path,
) -> (Running, std::process::ChildStdin) {
    let stderr = dir.join("collector.stderr");
    let child = abreast()
        .args(["fetch", "-", "--broker", &redis.url(), "--job", job, "-o"])
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("abreast starts");
    let mut collecting = Running { child, stderr };
    let input = collecting.child.stdin.take().unwrap();
    (collecting, input)
}

fn status(redis: &LocalRedis, job: &str) -> serde_json::Value {
    let (stdout, _) = run_expecting(
        abreast().args([
            "status",
            "--broker",
            &redis.url(),
            "--job",
            job,
            "--format",
            "json",
        ]),
        0,
    );
    serde_json::from_str(&stdout).expect("status prints JSON")
}

/// The job's status, or null while it does not exist yet.
fn status_if_any(redis: &LocalRedis, job: &str) -> serde_json::Value {
    let output = abreast()
        .args([
            "status",
            "--broker",
            &redis.url(),
            "--job",
            job,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
}

fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_job_through_two_workers_writes_what_plain_fetch_writes() {
    let redis = redis();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let mut lines = urls(&site, 30);
    lines.push(format!("{}/page/99999", site.base_url()));
    lines.push("not a url".into());
    lines.push(lines[3].clone());
    let mut input_text = lines.clone();
    input_text.insert(5, "# a comment".into());
    input_text.insert(9, String::new());
    let input = write_lines(dir.path(), "urls.txt", &input_text);
    let _a = worker(&redis, dir.path(), "a", &["-j", "8"]);
    let _b = worker(&redis, dir.path(), "b", &["-j", "8"]);
    let out = dir.path().join("out.jsonl");
    let (_, stderr) = run_expecting(&mut collector(&redis, &input, "same", &out, &[]), 1);
    assert!(
        stderr.contains("33 records") && stderr.contains("31 ok"),
        "{stderr}"
    );
    assert_one_record_per_line(&out, &lines);

    let plain = dir.path().join("plain.jsonl");
    run_expecting(abreast().arg("fetch").arg(&input).arg("-o").arg(&plain), 1);
    let shape = |records: Vec<serde_json::Value>| {
        let mut shape: Vec<String> = records
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {} {}",
                    r["url"], r["ok"], r["status"], r["title"], r["error"]["kind"]
                )
            })
            .collect();
        shape.sort();
        shape
    };
    assert_eq!(
        shape(records(&out)),
        shape(records(&plain)),
        "the same records"
    );

    // CSV too: a header, then one row per line.
    let csv_out = dir.path().join("out.csv");
    run_expecting(
        &mut collector(&redis, &input, "same-csv", &csv_out, &["--format", "csv"]),
        1,
    );
    let mut reader = csv::Reader::from_path(&csv_out).unwrap();
    assert_eq!(reader.headers().unwrap().get(0), Some("url"));
    assert_eq!(reader.records().count(), 33);

    let job = status(&redis, "same");
    assert_eq!(job["done"], 33);
    assert_eq!(
        (job["lines"].as_u64(), job["collected"].as_u64()),
        (Some(33), Some(33))
    );
    assert_eq!(job["workers"].as_array().unwrap().len(), 2);

    // Submitting again adds nothing; a resumed collection of a finished job has nothing left.
    let (_, stderr) = run_expecting(
        &mut collector(&redis, &input, "same", &out, &["--resume"]),
        0,
    );
    assert!(!stderr.contains("submitted"), "{stderr}");
    assert_one_record_per_line(&out, &lines);
    // Without --resume the file would be started over while the broker has dropped what it
    // collected: refused.
    let (_, stderr) = run_expecting(&mut collector(&redis, &input, "same", &out, &[]), 2);
    assert!(stderr.contains("--resume"), "{stderr}");
    // Another input under the same name: refused, saying how to go on.
    let other = write_lines(dir.path(), "other.txt", &lines[..10]);
    let (_, stderr) = run_expecting(&mut collector(&redis, &other, "same", &out, &[]), 2);
    assert!(
        stderr.contains("another input") && stderr.contains("--delete same"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    let (stdout, _) = run_expecting(abreast().args(["status", "--broker", &redis.url()]), 0);
    assert!(
        stdout.contains("same") && stdout.contains("last heartbeat"),
        "{stdout}"
    );
    run_expecting(
        abreast().args(["status", "--broker", &redis.url(), "--delete", "same"]),
        0,
    );
    run_expecting(
        abreast().args([
            "status",
            "--broker",
            &redis.url(),
            "--job",
            "same",
            "--format",
            "json",
        ]),
        1,
    );
}

#[test]
fn a_worker_killed_mid_job_loses_nothing() {
    let redis = redis();
    let site = site(300);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 40);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    let mut first = worker(&redis, dir.path(), "first", &["-j", "8"]);
    let mut collecting = Running::start(
        &mut collector(&redis, &input, "killed", &out, &["--lease", "2s"]),
        dir.path(),
        "collector",
    );
    wait_for("the first worker to hold leases", || {
        status_if_any(&redis, "killed")["in_flight"].as_u64() > Some(0)
    });
    first.signal(libc::SIGKILL);
    first.wait();
    let _second = worker(&redis, dir.path(), "second", &["-j", "8"]);
    assert_eq!(collecting.wait().code(), Some(0), "{}", collecting.stderr());
    assert_one_record_per_line(&out, &lines);
    assert!(status(&redis, "killed")["redelivered"].as_u64() > Some(0));
}

#[test]
fn the_collector_killed_then_resumed_loses_and_repeats_nothing() {
    let redis = redis();
    let site = site(20);
    let dir = tempfile::tempdir().unwrap();
    let mut lines = urls(&site, 60);
    lines.push(lines[7].clone());
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    let _worker = worker(&redis, dir.path(), "w", &["-j", "4"]);
    let mut collecting = Running::start(
        &mut collector(&redis, &input, "crash", &out, &[]),
        dir.path(),
        "collector",
    );
    wait_for("some records", || lines_in(&out) >= 10);
    collecting.signal(libc::SIGKILL);
    collecting.wait();
    let (_, stderr) = run_expecting(
        &mut collector(&redis, &input, "crash", &out, &["--resume"]),
        0,
    );
    assert!(
        stderr.contains("0 failed") || !stderr.contains("failed"),
        "{stderr}"
    );
    assert_one_record_per_line(&out, &lines);
}

#[test]
fn a_restarted_broker_loses_nothing() {
    let mut redis = redis();
    let site = site(100);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 40);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    let _worker = worker(&redis, dir.path(), "w", &["-j", "4"]);
    let mut collecting = Running::start(
        &mut collector(&redis, &input, "restart", &out, &[]),
        dir.path(),
        "collector",
    );
    wait_for("some records", || lines_in(&out) >= 4);
    redis.restart().unwrap();
    assert_eq!(collecting.wait().code(), Some(0), "{}", collecting.stderr());
    assert_one_record_per_line(&out, &lines);
    assert!(
        collecting.stderr().contains("retrying"),
        "{}",
        collecting.stderr()
    );
}

#[test]
fn a_restarted_broker_loses_nothing_of_a_job_read_from_standard_input() {
    let mut redis = redis();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 40);
    let out = dir.path().join("out.jsonl");
    let _worker = worker(&redis, dir.path(), "w", &["-j", "4"]);
    let (mut collecting, mut input) = collector_of_stdin(&redis, dir.path(), "stdin", &out);
    for line in &lines[..20] {
        writeln!(input, "{line}").unwrap();
    }
    input.flush().unwrap();
    // The job exists: the submitter is reading standard input. The broker goes away under it.
    wait_for("the job", || !status_if_any(&redis, "stdin").is_null());
    redis.restart().unwrap();
    for line in &lines[20..] {
        writeln!(input, "{line}").unwrap();
    }
    drop(input);
    assert_eq!(collecting.wait().code(), Some(0), "{}", collecting.stderr());
    assert_one_record_per_line(&out, &lines);
    assert_eq!(status(&redis, "stdin")["lines"], 40);
}

/// A producer that writes its lines slowly into `fetch - --broker`, or into a pipe named as the
/// input (a FIFO, as `<(producer)` gives), gets each line's record while it is still writing:
/// the lines go to the broker as they come (not in full batches) and the records are collected
/// while the input is submitted. A SIGTERM then ends the run at once, though the pipe is open.
#[test]
fn a_slow_producer_s_records_come_while_it_still_writes() {
    let redis = redis();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 3);
    let _worker = worker(&redis, dir.path(), "w", &["-j", "4"]);
    let fifo = dir.path().join("urls.fifo");
    let path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo(3) on a NUL-terminated path in the test's own folder.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    for (job, through_fifo) in [("slow", false), ("slow-fifo", true)] {
        let out = dir.path().join(format!("{job}.jsonl"));
        let (mut collecting, mut input): (Running, Box<dyn Write>) = if through_fifo {
            let mut command = collector(&redis, &fifo, job, &out, &[]);
            let collecting = Running::start(&mut command, dir.path(), job);
            // Opening the pipe waits for abreast to open it.
            (collecting, Box::new(std::fs::File::create(&fifo).unwrap()))
        } else {
            let (collecting, input) = collector_of_stdin(&redis, dir.path(), job, &out);
            (collecting, Box::new(input))
        };
        for (n, line) in lines.iter().enumerate() {
            writeln!(input, "{line}").unwrap();
            input.flush().unwrap();
            wait_for("the record of the line just written", || {
                lines_in(&out) == n + 1
            });
        }
        assert_eq!(status(&redis, job)["sealed"], false, "the input is open");
        if through_fifo {
            collecting.signal(libc::SIGTERM);
            assert_eq!(
                collecting.wait().code(),
                Some(130),
                "{}",
                collecting.stderr()
            );
            continue;
        }
        drop(input);
        assert_eq!(collecting.wait().code(), Some(0), "{}", collecting.stderr());
        assert_one_record_per_line(&out, &lines);
        assert_eq!(status(&redis, job)["sealed"], true);
    }
}

/// A second run of a job, with an input that begins with the job's lines and has more, while
/// the first run's producer still writes: its lines wait for the first run to end, which then
/// has its own records alone, and the second is told that the job holds another input.
#[test]
fn a_second_run_of_a_job_never_mixes_its_input_into_the_first_s() {
    let redis = redis();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 5);
    let _worker = worker(&redis, dir.path(), "w", &["-j", "4"]);
    let first_out = dir.path().join("first.jsonl");
    let (mut first, mut input) = collector_of_stdin(&redis, dir.path(), "shared", &first_out);
    for line in &lines[..3] {
        writeln!(input, "{line}").unwrap();
    }
    input.flush().unwrap();
    wait_for("the first run's records", || lines_in(&first_out) == 3);

    let second_in = write_lines(dir.path(), "second.txt", &lines);
    let second_out = dir.path().join("second.jsonl");
    let mut second = Running::start(
        &mut collector(&redis, &second_in, "shared", &second_out, &[]),
        dir.path(),
        "second",
    );
    wait_for("the second run to wait for the first", || {
        second
            .stderr()
            .contains("another collector holds job shared")
    });
    let job = status(&redis, "shared");
    assert_eq!((&job["lines"], &job["sealed"]), (&3.into(), &false.into()));

    writeln!(input, "{}", lines[3]).unwrap();
    drop(input);
    assert_eq!(first.wait().code(), Some(0), "{}", first.stderr());
    assert_one_record_per_line(&first_out, &lines[..4]);
    assert_eq!(second.wait().code(), Some(2), "{}", second.stderr());
    assert!(
        second.stderr().contains(
            "job shared already exists with another input (it has 4 lines and this input has more)"
        ),
        "{}",
        second.stderr()
    );
    assert!(!second_out.exists());
}

#[test]
fn a_line_that_kills_its_workers_is_given_up_once() {
    // With 2 deliveries the second is the last, taken alone; with 3 the second is taken over in
    // bulk with the lines that shared the dead worker, the third alone. 11 lines travel one an
    // entry; 200 in entries of 7, the poison line in the middle of one: its entry's lines are
    // fetched one at a time on its last delivery, and only the poison line is given up.
    for (max_deliveries, count, at) in [(2, 10, 4), (3, 10, 4), (3, 199, 101)] {
        given_up_once(max_deliveries, count, at);
    }
}

fn given_up_once(max_deliveries: u32, count: usize, at: usize) {
    let redis = redis();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let mut lines = urls(&site, count);
    lines.insert(at, format!("{}/page/1?poison", site.base_url()));
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    let mut collecting = Running::start(
        &mut collector(
            &redis,
            &input,
            "poison",
            &out,
            &[
                "--lease",
                "1s",
                "--max-deliveries",
                &max_deliveries.to_string(),
            ],
        ),
        dir.path(),
        "collector",
    );
    // A supervisor, as Kubernetes would be: a worker that dies is replaced.
    let mut starts = 0;
    let mut current: Option<Running> = None;
    while !collecting.has_exited() {
        if current.as_mut().is_none_or(Running::has_exited) {
            starts += 1;
            assert!(starts < 20, "a poison loop: {starts} workers started");
            let mut command = abreast();
            command
                .args([
                    "worker",
                    "--broker",
                    &redis.url(),
                    "--mode",
                    "async",
                    "-j",
                    "2",
                ])
                .env("ABREAST_TEST_CRASH_ON", "poison");
            current = Some(Running::start(
                &mut command,
                dir.path(),
                &format!("w{starts}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(collecting.wait().code(), Some(1), "{}", collecting.stderr());
    assert_one_record_per_line(&out, &lines);
    let given_up: Vec<serde_json::Value> = records(&out)
        .into_iter()
        .filter(|r| r["error"]["kind"] == "gave_up")
        .collect();
    assert_eq!(given_up.len(), 1);
    assert!(given_up[0]["url"].as_str().unwrap().ends_with("?poison"));
    let message = given_up[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{max_deliveries} deliveries")),
        "{message}"
    );
    assert_eq!(status(&redis, "poison")["gave_up"], 1);
}

#[test]
fn per_host_holds_across_three_workers() {
    let redis = redis();
    let site = site(60);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 60);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    let _workers: Vec<Running> = (0..3)
        .map(|i| worker(&redis, dir.path(), &format!("w{i}"), &["-j", "16"]))
        .collect();
    run_expecting(
        &mut collector(&redis, &input, "polite", &out, &["--per-host", "3"]),
        0,
    );
    assert_one_record_per_line(&out, &lines);
    let most = site.counters().most_in_flight();
    assert!(
        (1..=3).contains(&most),
        "{most} requests at once to one host"
    );
}

#[test]
fn rate_holds_across_three_workers() {
    let redis = redis();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 21);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    let _workers: Vec<Running> = (0..3)
        .map(|i| worker(&redis, dir.path(), &format!("w{i}"), &["-j", "16"]))
        .collect();
    let started = Instant::now();
    run_expecting(
        &mut collector(&redis, &input, "rate", &out, &["--rate", "20"]),
        0,
    );
    // 21 starts at 20 per second job-wide take at least a second (three workers each keeping
    // 20 per second on their own would need a third of it).
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_one_record_per_line(&out, &lines);
}

#[test]
fn sigterm_hands_back_what_a_worker_holds() {
    let redis = redis();
    let site = site(1500);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 12);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    let mut leaving = worker(
        &redis,
        dir.path(),
        "leaving",
        &["-j", "12", "--grace", "100ms"],
    );
    let mut collecting = Running::start(
        &mut collector(&redis, &input, "handback", &out, &["--lease", "120s"]),
        dir.path(),
        "collector",
    );
    wait_for("the worker to hold every line", || {
        status_if_any(&redis, "handback")["in_flight"].as_u64() == Some(12)
    });
    leaving.signal(libc::SIGTERM);
    assert_eq!(leaving.wait().code(), Some(0), "{}", leaving.stderr());
    assert!(
        leaving.stderr().contains("went back"),
        "{}",
        leaving.stderr()
    );
    let job = status(&redis, "handback");
    assert_eq!(job["in_flight"], 0, "{job}");
    assert_eq!(job["waiting"], 12, "{job}");
    // The next worker takes them at once, long before a 120 s lease would run out.
    let _staying = worker(&redis, dir.path(), "staying", &["-j", "12"]);
    assert_eq!(collecting.wait().code(), Some(0), "{}", collecting.stderr());
    assert_one_record_per_line(&out, &lines);
}

#[test]
fn a_job_deleted_while_its_lines_wait_for_a_permit_frees_its_worker() {
    let redis = redis();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 4);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    // The host's one permit (--per-host 1) is someone else's for two minutes: every request of
    // the worker waits for it.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let url = abreast_queue::BrokerUrl::parse(&redis.url()).unwrap();
            let queue = abreast_queue::RedisQueue::connect(&url).await.unwrap();
            let job = abreast_queue::JobName::new("deleted").unwrap();
            let ttl = Duration::from_secs(120);
            let taken = abreast_queue::Queue::acquire_host(
                &queue,
                &job,
                "127.0.0.1",
                "someone-else",
                1,
                ttl,
            );
            assert!(taken.await.unwrap());
        });
    let mut collecting = Running::start(
        &mut collector(
            &redis,
            &input,
            "deleted",
            &out,
            &["--per-host", "1", "--lease", "3s"],
        ),
        dir.path(),
        "collector",
    );
    let serving = worker(&redis, dir.path(), "w", &["-j", "4"]);
    // What the worker's last heartbeat (every 2 s) said it held.
    let held = || {
        let (stdout, _) = run_expecting(
            abreast().args(["status", "--broker", &redis.url(), "--format", "json"]),
            0,
        );
        let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        status["workers"][0]["held"].as_u64()
    };
    wait_for("the worker to hold every line", || held() == Some(4));
    // Its collector is at work: refused without --force.
    let (_, stderr) = run_expecting(
        abreast().args(["status", "--broker", &redis.url(), "--delete", "deleted"]),
        1,
    );
    assert!(
        stderr.contains("job deleted is being collected now"),
        "{stderr}"
    );
    run_expecting(
        abreast().args([
            "status",
            "--broker",
            &redis.url(),
            "--delete",
            "deleted",
            "--force",
        ]),
        0,
    );
    // The collector says its job was deleted, in words, not in the broker's.
    collecting.wait();
    let said = collecting.stderr();
    assert!(
        said.contains("deleted") && !said.contains("UNBLOCKED"),
        "{said}"
    );
    // A job that is not there is not "deleted".
    let (_, stderr) = run_expecting(
        abreast().args(["status", "--broker", &redis.url(), "--delete", "deleted"]),
        1,
    );
    assert!(stderr.contains("there is no job deleted"), "{stderr}");
    // The worker lets the lines go at its next renewal of their lease (a third of it).
    wait_for("the worker to let the deleted job's lines go", || {
        held() == Some(0)
    });
    drop(serving);
}

#[test]
fn a_collected_job_run_again_says_where_its_records_are_not() {
    let redis = redis();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 3);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let _serving = worker(&redis, dir.path(), "w", &[]);
    let first = dir.path().join("first.jsonl");
    run_expecting(&mut collector(&redis, &input, "again", &first, &[]), 0);
    assert_one_record_per_line(&first, &lines);
    // Into a new file: the records are in the first one, which this run cannot know.
    let second = dir.path().join("second.jsonl");
    let (_, stderr) = run_expecting(&mut collector(&redis, &input, "again", &second, &[]), 2);
    assert!(
        stderr.contains(
            "job again was collected already (all 3 lines), into an earlier run's output"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("abreast status --delete again"), "{stderr}");
    // --resume into a file with none of them: refused, not an empty file and exit 0.
    let (_, stderr) = run_expecting(
        &mut collector(&redis, &input, "again", &second, &["--resume"]),
        2,
    );
    assert!(
        stderr.contains("has no records, and 3 lines of job again were collected already"),
        "{stderr}"
    );
    // With the file that has them, it is done.
    run_expecting(
        &mut collector(&redis, &input, "again", &first, &["--resume"]),
        0,
    );
    assert_one_record_per_line(&first, &lines);
}

/// The threads of process `pid` that read one job's records (named `abreast-worker-JOB`; the
/// kernel keeps 15 bytes of a name).
fn job_readers(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("abreast-worker"))
        .count()
}

#[test]
fn an_idle_worker_starts_no_fetch_for_finished_jobs() {
    let redis = redis();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 3);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    {
        let _first = worker(&redis, dir.path(), "first", &[]);
        for job in ["done-a", "done-b", "done-c"] {
            let out = dir.path().join(format!("{job}.jsonl"));
            run_expecting(&mut collector(&redis, &input, job, &out, &[]), 0);
        }
    }
    // A new worker, on a broker of three finished jobs, serves a fourth: by the time its
    // records are in, it has asked every job for lines many times.
    let second = Running::start(
        abreast().args(["worker", "--broker", &redis.url(), "--mode", "threads"]),
        dir.path(),
        "second",
    );
    let out = dir.path().join("new.jsonl");
    run_expecting(&mut collector(&redis, &input, "new", &out, &[]), 0);
    assert_one_record_per_line(&out, &lines);
    // The new job's fetch alone (it ends 5 s after its last lines); none for the others.
    let readers = job_readers(second.child.id());
    assert!(readers <= 1, "{readers} job fetches running");
}

#[test]
fn a_worker_refused_the_announcements_says_so_once_and_still_works() {
    let redis = redis();
    // A user with every command but no pub/sub channel (as Redis 7's ACLs give by default).
    let quiet = redis
        .add_user_without_channels("quiet", "quiet-secret")
        .unwrap();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 40);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let mut serving = Running::start(
        abreast()
            .args(["worker", "--broker", &quiet, "--mode", "async"])
            .env("ABREAST_TEST_WATCH_RETRY_MS", "50"),
        dir.path(),
        "quiet",
    );
    // The broker logs each refusal (ACL LOG counts the same one again): wait for three.
    let refusals = || {
        let log = redis.command(&["ACL", "LOG"]).unwrap();
        log.iter()
            .zip(log.iter().skip(1))
            .filter(|(field, _)| *field == "count")
            .map(|(_, count)| count.parse::<u64>().unwrap())
            .sum::<u64>()
    };
    wait_for("three refused subscriptions", || refusals() >= 3);
    // New jobs are found on the tick instead.
    let out = dir.path().join("out.jsonl");
    run_expecting(&mut collector(&redis, &input, "ticked", &out, &[]), 0);
    assert_one_record_per_line(&out, &lines);
    serving.signal(libc::SIGTERM);
    assert!(serving.wait().success());
    let stderr = serving.stderr();
    let refused = "the broker does not permit this user the channel abreast:new-lines";
    assert_eq!(stderr.matches(refused).count(), 1, "said once: {stderr}");
    assert!(
        stderr.contains("ACL SETUSER <user> &abreast:new-lines"),
        "{stderr}"
    );
    assert!(!stderr.contains("quiet-secret"), "{stderr}");
}

/// Ctrl-C ends a worker and a submitter at once while they wait on a broker that took the
/// connection and never answers (a stopped `redis-server`, or another server on its port): the
/// call under way is dropped, not waited out until its own time limit says that the broker
/// "cannot be reached".
#[test]
fn ctrl_c_ends_a_wait_on_a_broker_that_never_answers() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "redis://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "urls.txt", &["http://127.0.0.1:9/".to_owned()]);
    let mut submit = abreast();
    submit
        .arg("fetch")
        .arg(&input)
        .args(["--broker", &url, "--job", "silent"]);
    for (name, command, code) in [
        ("worker", abreast().args(["worker", "--broker", &url]), 0),
        ("submitter", &mut submit, 130),
    ] {
        let before = accepted.load(Ordering::SeqCst);
        let mut running = Running::start(command, dir.path(), name);
        wait_for("the connection to the silent broker", || {
            accepted.load(Ordering::SeqCst) > before
        });
        running.signal(libc::SIGINT);
        assert_eq!(running.wait().code(), Some(code), "{}", running.stderr());
        assert!(
            !running.stderr().contains("cannot be reached"),
            "{name} waited for the broker's answer after Ctrl-C: {}",
            running.stderr()
        );
    }
}

#[test]
fn passwords_are_never_printed_and_bad_brokers_exit_2() {
    let redis = LocalRedis::start_with_password("pw-s3cret").expect("redis-server starts");
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 5);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    let port = redis.port();
    let wrong = format!("redis://:wrong-pw@127.0.0.1:{port}");
    for command in [
        abreast().args(["status", "--broker", &wrong]),
        abreast().args(["worker", "--broker", &wrong]),
        abreast()
            .arg("fetch")
            .arg(&input)
            .args(["--broker", &wrong, "--job", "x"]),
        abreast().args(["status", "--broker", "http://:pw-s3cret@127.0.0.1/"]),
        abreast().args([
            "status",
            "--broker",
            &format!("redis://:pw-s3cret@127.0.0.1:{port}/db"),
        ]),
        abreast().args([
            "worker",
            "--broker",
            &format!("redis://:pw-s3cret@127.0.0.1:{port}/?protocol=resp3"),
        ]),
        abreast().args(["status", "--broker", &redis.url(), "--job", "a b"]),
    ] {
        let (stdout, stderr) = run_expecting(command, 2);
        assert!(
            !stderr.contains("s3cret") && !stderr.contains("wrong-pw"),
            "{stderr}"
        );
        assert!(!stdout.contains("s3cret"));
        // The cause on one line (clap adds a pointer to --help below a usage error).
        let causes = stderr.lines().filter(|l| l.contains("error:")).count();
        assert_eq!(causes, 1, "one line: {stderr}");
    }
    let mut serving = worker(&redis, dir.path(), "w", &["-j", "4"]);
    run_expecting(&mut collector(&redis, &input, "secret", &out, &[]), 0);
    let (stdout, stderr) = run_expecting(abreast().args(["status", "--broker", &redis.url()]), 0);
    assert!(stdout.contains("redis://:***@127.0.0.1"), "{stdout}");
    serving.signal(libc::SIGTERM);
    serving.wait();
    for text in [
        stdout,
        stderr,
        serving.stderr(),
        std::fs::read_to_string(&out).unwrap(),
    ] {
        assert!(!text.contains("pw-s3cret"), "{text}");
    }
    // A database past the server's count: said as such, exit 2.
    let (_, stderr) = run_expecting(
        abreast().args(["status", "--broker", &format!("{}/99", redis.url())]),
        2,
    );
    assert!(
        stderr.contains("the broker has no database of that number") && !stderr.contains("s3cret"),
        "{stderr}"
    );
}

#[test]
fn entries_abreast_did_not_write_are_skipped_and_an_idle_job_says_how_to_start_a_worker() {
    let redis = redis();
    let site = site(0);
    let dir = tempfile::tempdir().unwrap();
    let lines = urls(&site, 6);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    let mut collecting = Running::start(
        &mut collector(&redis, &input, "foreign", &out, &[]),
        dir.path(),
        "collector",
    );
    wait_for("the note on a job no worker serves", || {
        collecting
            .stderr()
            .contains("abreast worker --broker redis://127.0.0.1:")
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = abreast_queue::BrokerUrl::parse(&redis.url()).unwrap();
        let queue = abreast_queue::RedisQueue::connect(&url).await.unwrap();
        let job = abreast_queue::JobName::new("foreign").unwrap();
        queue
            .add_raw_entry(&job, false, &[("hello", "world")])
            .await
            .unwrap();
        queue
            .add_raw_entry(&job, true, &[("n", "1")])
            .await
            .unwrap();
    });
    let serving = worker(&redis, dir.path(), "w", &["-j", "4"]);
    assert_eq!(collecting.wait().code(), Some(0), "{}", collecting.stderr());
    assert_one_record_per_line(&out, &lines);
    assert_eq!(status(&redis, "foreign")["foreign"], 2);
    assert!(
        collecting.stderr().contains("did not write"),
        "{}",
        collecting.stderr()
    );
    wait_for("the worker's note", || {
        serving.stderr().contains("did not write")
    });
}

/// A CA, and a certificate for 127.0.0.1 it signed, as PEM files: `(ca, certificate, key)`.
fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "abreast broker test CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("redis.pem"),
        dir.join("redis.key"),
    );
    std::fs::write(&paths.0, ca_pem).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

#[test]
fn a_job_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, certificate, key) = tls_files(dir.path());
    let redis =
        LocalRedis::start_tls(&certificate, &key, &ca).expect("redis-server starts with TLS");
    assert!(redis.url().starts_with("rediss://"));
    let site = site(0);
    let lines = urls(&site, 10);
    let input = write_lines(dir.path(), "urls.txt", &lines);
    let out = dir.path().join("out.jsonl");
    // The broker's CA is trusted as a system one would be (rustls-native-certs reads
    // SSL_CERT_FILE).
    let mut serving = abreast();
    serving
        .args([
            "worker",
            "--broker",
            &redis.url(),
            "--mode",
            "async",
            "-j",
            "4",
        ])
        .env("SSL_CERT_FILE", &ca);
    let _worker = Running::start(&mut serving, dir.path(), "w");
    run_expecting(
        collector(&redis, &input, "tls", &out, &[]).env("SSL_CERT_FILE", &ca),
        0,
    );
    assert_one_record_per_line(&out, &lines);
    // A certificate nobody vouches for is refused at once, exit 2, saying what to do; by the
    // collector and the worker too, which retry a broker that cannot be reached.
    let other = tempfile::tempdir().unwrap();
    let (stranger, _, _) = tls_files(other.path());
    let url = redis.url();
    let input = input.to_str().unwrap();
    let status_args = ["status", "--broker", &url];
    let worker_args = ["worker", "--broker", &url];
    let collector_args = ["fetch", input, "--broker", &url, "--job", "tls-again"];
    for args in [&status_args[..], &worker_args, &collector_args] {
        let (_, stderr) = run_expecting(abreast().args(args).env("SSL_CERT_FILE", &stranger), 2);
        assert!(
            stderr.contains("presented a certificate abreast does not trust")
                && stderr.contains("SSL_CERT_FILE"),
            "{args:?}: {stderr}"
        );
    }
}
