//! `abreast fetch` on the open web, offline: `--dns-server` and `--cacert` against the test
//! site's name server and CA, HTTP/2 and `--http1.1`, `--robots obey` and `--user-agent`
//! against a small server of this module, and an input list with a Latin-1 line, resumed.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use abreast_site::{Site, SiteConfig};

use crate::util::{abreast, run_expecting, wait_for};

fn records_of(output: &str) -> Vec<serde_json::Value> {
    output
        .lines()
        .map(|line| serde_json::from_str(line).expect("whole JSON lines"))
        .collect()
}

#[test]
fn https_through_the_site_s_name_server_and_ca_with_h2_or_http1_1() {
    let config = SiteConfig::default()
        .pages(20)
        .page_size(2048)
        .tls(true)
        .dns(Some("127.0.0.1:0".parse().unwrap()));
    let site = Site::start_in_background(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, site.ca_pem().unwrap()).unwrap();
    let port = site.addr().port();
    let urls: Vec<String> = (0..6)
        .map(|i| format!("https://h{}.site.test:{port}/page/{i}", i % 3))
        .collect();
    let input = dir.path().join("urls.txt");
    std::fs::write(&input, urls.join("\n")).unwrap();
    let dns = site.dns_addr().unwrap().to_string();
    for (extra, version) in [(None, "HTTP/2"), (Some("--http1.1"), "HTTP/1.1")] {
        let mut command = abreast();
        command
            .args(["fetch", "--mode", "async", "--dns-server", &dns, "--cacert"])
            .arg(&ca)
            .arg(&input)
            .args(extra);
        let (stdout, _) = run_expecting(&mut command, 0);
        let records = records_of(&stdout);
        assert_eq!(records.len(), urls.len());
        for record in records {
            assert_eq!(record["http_version"], version, "{record}");
        }
    }
    // A CA file that is not PEM, or a name server that is no address: usage errors.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let (_, stderr) = run_expecting(
        abreast().args(["fetch", "--cacert"]).arg(&junk).arg(&input),
        2,
    );
    assert!(stderr.contains("holds no certificate"), "{stderr}");
    // The file named once (by the flag's value), the system's cause in words.
    assert_eq!(stderr.matches("junk.pem").count(), 1, "{stderr}");
    let missing = dir.path().join("missing.pem");
    let (_, stderr) = run_expecting(
        abreast()
            .args(["fetch", "--cacert"])
            .arg(&missing)
            .arg(&input),
        2,
    );
    assert!(
        stderr.contains("could not read it: No such file or directory")
            && !stderr.contains("os error"),
        "{stderr}"
    );
    let (_, stderr) = run_expecting(
        abreast()
            .args(["fetch", "--dns-server", "ns.example"])
            .arg(&input),
        2,
    );
    assert!(stderr.contains("not a name server address"), "{stderr}");
    let (_, stderr) = run_expecting(
        abreast().args(["fetch", "--robots", "maybe"]).arg(&input),
        2,
    );
    assert!(stderr.contains("use obey or ignore"), "{stderr}");
}

/// The (path, User-Agent) of each request a server saw.
type Seen = Arc<Mutex<Vec<(String, String, Instant)>>>;

/// A server that answers `/robots.txt` with `robots` and any other path with a small page,
/// recording each request's path, User-Agent and time. It stops with the test process.
fn robots_server(robots: &'static str) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let path = line.split(' ').nth(1).unwrap_or("").to_owned();
            let mut agent = String::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                    break;
                }
                if let Some(value) = header
                    .strip_prefix("user-agent:")
                    .or(header.strip_prefix("User-Agent:"))
                {
                    agent = value.trim().to_owned();
                }
            }
            let body = if path == "/robots.txt" {
                robots
            } else {
                "<title>page</title>"
            };
            log.lock().unwrap().push((path, agent, Instant::now()));
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, seen)
}

#[test]
fn robots_obey_skips_what_the_file_disallows_for_the_user_agent_s_token() {
    let (base, seen) =
        robots_server("User-agent: *\nDisallow: /\n\nUser-agent: mybot\nDisallow: /private\n");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("urls.txt");
    std::fs::write(&input, format!("{base}/open\n{base}/private/1\n")).unwrap();
    for mode in ["threads", "hybrid"] {
        seen.lock().unwrap().clear();
        let mut command = abreast();
        command
            .args(["fetch", "--mode", mode, "--robots", "obey", "--ordered"])
            .args(["--user-agent", "MyBot/2.0 (+https://example.org/bot)"])
            .arg(&input);
        let (stdout, _) = run_expecting(&mut command, 1);
        let records = records_of(&stdout);
        assert_eq!(records[0]["ok"], true, "{mode}: {}", records[0]);
        assert_eq!(
            records[1]["error"]["kind"], "robots",
            "{mode}: {}",
            records[1]
        );
        let seen = seen.lock().unwrap().clone();
        let paths: Vec<&str> = seen.iter().map(|(path, ..)| path.as_str()).collect();
        assert_eq!(paths, ["/robots.txt", "/open"], "{mode}");
        assert!(
            seen.iter()
                .all(|(_, agent, _)| agent == "MyBot/2.0 (+https://example.org/bot)")
        );
    }
}

#[test]
fn a_latin1_line_gets_its_own_record_and_resume_knows_it() {
    let site = Site::start_in_background(SiteConfig::default().pages(10).page_size(1024)).unwrap();
    let base = site.base_url();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("urls.txt");
    let mut latin1 = format!("{base}/page/1\n").into_bytes();
    latin1.extend_from_slice(b"http://caf\xe9.example/\n");
    latin1.extend_from_slice(format!("{base}/page/2?q=").as_bytes());
    latin1.extend_from_slice(b"\xe9\n");
    latin1.extend_from_slice(format!("{base}/page/3\n").as_bytes());
    // Two lines that differ in a byte that is not UTF-8 alone.
    latin1.extend_from_slice(format!("{base}/page/4?q=").as_bytes());
    latin1.extend_from_slice(b"\xe8\n");
    latin1.extend_from_slice(format!("{base}/page/4?q=").as_bytes());
    latin1.extend_from_slice(b"\xe9\n");
    std::fs::write(&input, &latin1).unwrap();
    let out = dir.path().join("out.jsonl");
    for mode in ["threads", "async"] {
        let _ = std::fs::remove_file(&out);
        let mut command = abreast();
        command
            .args(["fetch", "--mode", mode])
            .arg(&input)
            .arg("-o")
            .arg(&out);
        run_expecting(&mut command, 1);
        let records = records_of(&std::fs::read_to_string(&out).unwrap());
        assert_eq!(
            records.len(),
            6,
            "{mode}: one record per line, the run goes on"
        );
        let bad = records
            .iter()
            .find(|r| r["url"] == "http://caf%E9.example/")
            .unwrap();
        assert_eq!(bad["error"]["kind"], "invalid_url", "{mode}");
        let encoded = records
            .iter()
            .find(|r| r["url"] == format!("{base}/page/2?q=%E9"))
            .unwrap();
        assert_eq!(
            encoded["final_url"],
            format!("{base}/page/2?q=%E9"),
            "{mode}"
        );
        // Resumed, nothing is missing, so nothing is fetched again.
        let mut resume = abreast();
        resume
            .args(["fetch", "--mode", mode, "--resume"])
            .arg(&input)
            .arg("-o")
            .arg(&out);
        let (_, stderr) = run_expecting(&mut resume, 0);
        assert!(stderr.contains("6 already done"), "{mode}: {stderr}");
        assert_eq!(records_of(&std::fs::read_to_string(&out).unwrap()).len(), 6);
        // Without the record of one of the two lines, a resumed run fetches that one alone.
        let missing = format!("{base}/page/4?q=%E9");
        let kept: String = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .filter(|line| !line.contains(&format!("\"url\":\"{missing}\"")))
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(&out, kept).unwrap();
        let (_, stderr) = run_expecting(&mut resume, 0);
        assert!(stderr.contains("5 already done"), "{mode}: {stderr}");
        let urls: Vec<String> = records_of(&std::fs::read_to_string(&out).unwrap())
            .iter()
            .map(|r| r["url"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(urls.len(), 6, "{mode}: {urls:?}");
        assert_eq!(urls.last(), Some(&missing), "{mode}: {urls:?}");
    }
}

/// Kills the child when dropped, so a failed test leaves no worker running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_broker_job_takes_a_latin1_line_as_a_local_run_does() {
    let redis = abreast_queue::LocalRedis::start().expect("redis-server starts (install it)");
    let site = Site::start_in_background(SiteConfig::default().pages(10).page_size(1024)).unwrap();
    let base = site.base_url();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("urls.txt");
    let mut latin1 = format!("{base}/page/1?q=caf").into_bytes();
    latin1.extend_from_slice(b"\xe9\nhttp://caf\xe9.example/\n");
    latin1.extend_from_slice(format!("{base}/page/2\n").as_bytes());
    std::fs::write(&input, &latin1).unwrap();
    let _worker = worker(&redis, "async", &[]);
    let out = dir.path().join("out.jsonl");
    let mut collect = abreast();
    collect
        .arg("fetch")
        .arg(&input)
        .args(["--broker", &redis.url(), "--job", "latin1", "-o"])
        .arg(&out);
    run_expecting(&mut collect, 1);
    let records = records_of(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(records.len(), 3, "one record per line: {records:?}");
    let encoded = format!("{base}/page/1?q=caf%E9");
    let page = records
        .iter()
        .find(|r| r["url"] == encoded.as_str())
        .unwrap();
    assert_eq!(page["final_url"], encoded.as_str());
    let host = records
        .iter()
        .find(|r| r["url"] == "http://caf%E9.example/")
        .unwrap();
    assert_eq!(host["error"]["kind"], "invalid_url");
    // The same words as a local run's.
    let message = host["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the host is not UTF-8 text"),
        "{message}"
    );
}

#[test]
fn a_broker_job_fetches_each_host_s_robots_txt_once_whatever_its_workers() {
    let redis = abreast_queue::LocalRedis::start().expect("redis-server starts (install it)");
    let servers: Vec<(String, Seen)> = (0..3)
        .map(|_| robots_server("User-agent: *\nDisallow: /private\n"))
        .collect();
    let mut lines = Vec::new();
    for i in 0..20 {
        for (base, _) in &servers {
            let path = if i % 5 == 4 { "private" } else { "page" };
            lines.push(format!("{base}/{path}/{i}"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("urls.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    // The async step (hybrid, async) and the blocking one (threads) both share the files.
    let _workers = three_workers(&redis);
    let out = dir.path().join("out.jsonl");
    let mut collect = abreast();
    collect
        .arg("fetch")
        .arg(&input)
        .args([
            "--broker",
            &redis.url(),
            "--job",
            "robots",
            "--robots",
            "obey",
        ])
        .arg("-o")
        .arg(&out);
    run_expecting(&mut collect, 1);
    let records = records_of(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(records.len(), lines.len(), "one record per line");
    for record in &records {
        let private = record["url"].as_str().unwrap().contains("/private/");
        let kind = &record["error"]["kind"];
        assert_eq!(*kind == "robots", private, "{record}");
        assert_eq!(record["ok"], !private, "{record}");
    }
    for (base, seen) in &servers {
        let seen = seen.lock().unwrap();
        let fetches = seen
            .iter()
            .filter(|(path, ..)| path == "/robots.txt")
            .count();
        assert_eq!(fetches, 1, "{base}: robots.txt fetched {fetches} times");
        assert!(!seen.iter().any(|(path, ..)| path.starts_with("/private")));
    }
    // More than one worker served the job (their reports come every 2 s).
    wait_for_workers(&redis, |workers| {
        workers
            .iter()
            .filter(|w| w["completed"].as_u64().unwrap_or(0) > 0)
            .count()
            >= 2
    });
}

#[test]
fn a_broker_job_s_workers_keep_a_host_s_crawl_delay_between_them() {
    let redis = abreast_queue::LocalRedis::start().expect("redis-server starts (install it)");
    let (base, seen) = robots_server("User-agent: *\nCrawl-delay: 0.4\n");
    let pages = 8;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("urls.txt");
    let lines: Vec<String> = (0..pages).map(|i| format!("{base}/page/{i}")).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let _workers = three_workers(&redis);
    let began = Instant::now();
    let mut collect = abreast();
    collect
        .arg("fetch")
        .arg(&input)
        .args(["--broker", &redis.url(), "--job", "paced"])
        .args(["--robots", "obey", "-o"])
        .arg(dir.path().join("out.jsonl"));
    run_expecting(&mut collect, 0);
    let starts: Vec<Instant> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(path, ..)| path.starts_with("/page/"))
        .map(|(.., at)| *at)
        .collect();
    assert_eq!(starts.len(), pages);
    // Each start is reserved on the broker at least the delay after the one before, whichever
    // worker makes it, and the first no earlier than the job: the last comes seven delays
    // after the job began at the earliest. Each worker keeping the delay on its own would
    // start them three at a time.
    let last = starts.into_iter().max().unwrap();
    assert!(
        last - began >= Duration::from_millis(7 * 400),
        "{:?}",
        last - began
    );
}

#[test]
fn a_broker_job_s_redirect_hops_keep_the_job_wide_per_host_limit_of_the_host_they_lead_to() {
    let redis = abreast_queue::LocalRedis::start().expect("redis-server starts (install it)");
    // Two names for 127.0.0.1 from the first site's name server: its pages redirect at once
    // from `start.site.test` to `target.site.test`, the second site, which takes its time.
    let start = Site::start_in_background(
        SiteConfig::default()
            .pages(1)
            .dns(Some("127.0.0.1:0".parse().unwrap())),
    )
    .unwrap();
    let target = Site::start_in_background(
        SiteConfig::default()
            .pages(8)
            .latency("300ms".parse().unwrap()),
    )
    .unwrap();
    let (from, to) = (start.addr().port(), target.addr().port());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("urls.txt");
    let lines: Vec<String> = (0..6)
        .map(|i| {
            format!(
                "http://start.site.test:{from}/fault/redirect-to?url=http://target.site.test:{to}/page/{i}"
            )
        })
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let _workers = three_workers(&redis);
    let dns = start.dns_addr().unwrap().to_string();
    let out = dir.path().join("out.jsonl");
    let mut collect = abreast();
    collect
        .arg("fetch")
        .arg(&input)
        .args(["--broker", &redis.url(), "--job", "hops", "--per-host", "1"])
        .args(["--robots", "obey", "--dns-server", &dns, "-o"])
        .arg(&out);
    run_expecting(&mut collect, 0);
    let records = std::fs::read_to_string(&out).unwrap();
    assert_eq!(records.lines().count(), 6, "{records}");
    assert!(
        records.lines().all(|line| line.contains(r#""ok":true"#)),
        "{records}"
    );
    // The start pages go one at a time job-wide and answer at once: without the job-wide
    // permit for the host a hop leads to, each worker would be at the slow host at once.
    assert_eq!(target.counters().most_in_flight(), 1);
}

/// Three workers of `redis` (hybrid, async and threads, `-j 2`), once all three serve (each
/// reports itself when it starts).
fn three_workers(redis: &abreast_queue::LocalRedis) -> Vec<KillOnDrop> {
    let workers = ["hybrid", "async", "threads"]
        .iter()
        .map(|mode| worker(redis, mode, &["-j", "2"]))
        .collect();
    wait_for_workers(redis, |workers| workers.len() == 3);
    workers
}

/// An `abreast worker` of `redis` in `mode`, its output dropped, killed when dropped.
fn worker(redis: &abreast_queue::LocalRedis, mode: &str, extra: &[&str]) -> KillOnDrop {
    KillOnDrop(
        abreast()
            .args(["worker", "--broker", &redis.url(), "--mode", mode])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("abreast worker starts"),
    )
}

/// Waits until the workers `abreast status` lists satisfy `condition`.
fn wait_for_workers(
    redis: &abreast_queue::LocalRedis,
    condition: impl Fn(&[serde_json::Value]) -> bool,
) {
    wait_for("the workers", || {
        let (stdout, _) = run_expecting(
            abreast().args(["status", "--broker", &redis.url(), "--format", "json"]),
            0,
        );
        let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        condition(status["workers"].as_array().unwrap())
    });
}
