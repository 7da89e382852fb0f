//! The fetch suites' reference row: `curl -Z --parallel-max 100 -s -o /dev/null` over the same
//! URLs, fetching without extracting anything.
//!
//! The foundation issue's target is client CPU per page at most 1.25× curl's; this row gives the
//! figure to compare with ([`SuiteReport::cpu_summary`](crate::SuiteReport::cpu_summary) prints
//! the ratios). The URLs go to curl in a config file (`-K`), each with `output = "/dev/null"`;
//! `--write-out` prints each transfer's status so the row fails unless every page came back with
//! a 200. Its wall time is from starting curl to its exit, start-up included (a few
//! milliseconds); its CPU is what the kernel accounted to the curl process (`wait4`), and its
//! peak memory curl's resident set. Where curl is not installed the row is skipped with a note.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::cputime::{CpuClock, ThreadClocks};
use crate::report::{Implementation, Mechanism, Row};
use crate::{Timing, memory, python};

/// Connections curl keeps at once (`--parallel-max`), as in the foundation issue's target.
pub const PARALLEL_MAX: usize = 100;

/// How long one curl run may take before it is killed.
const TIMEOUT: Duration = Duration::from_secs(600);

/// Whether `curl` runs here, and its version line, or why not.
fn curl_version() -> Result<String, String> {
    let output = Command::new("curl")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("curl was not found ({error}); install curl for this row"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().next().unwrap_or_default().to_owned();
    if !output.status.success() || !first.starts_with("curl ") {
        return Err(format!(
            "`curl --version` printed {first:?}; install curl 7.66 or later"
        ));
    }
    Ok(first)
}

/// One run of curl over the config file: its wall seconds, CPU seconds, and how many pages got
/// a 200.
struct CurlRun {
    wall: f64,
    cpu: f64,
    ok: u64,
    peak_memory_bytes: Option<u64>,
}

fn run_once(config: &Path) -> anyhow::Result<CurlRun> {
    let start = Instant::now();
    let mut child = Command::new("curl")
        .args([
            "-Z",
            "--parallel-max",
            &PARALLEL_MAX.to_string(),
            "-s",
            "-S",
        ])
        .args(["--write-out", "%{http_code}\\n", "-K"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("could not start curl")?;
    let stdout = python::read_in_background(child.stdout.take());
    let stderr = python::read_in_background(child.stderr.take());
    let pid = libc::pid_t::try_from(child.id()).context("process id out of range")?;
    let sampler = memory::TreeSampler::start(child.id());
    let exit = python::wait_with_timeout(pid, TIMEOUT);
    let wall = start.elapsed().as_secs_f64();
    let peak_memory_bytes = sampler.finish();
    let exit = exit?;
    let stdout = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    let Some(exit) = exit else {
        bail!("curl did not finish within {TIMEOUT:?} and was killed");
    };
    if !libc::WIFEXITED(exit.status) || libc::WEXITSTATUS(exit.status) != 0 {
        bail!(
            "curl failed ({}){}",
            python::describe_status(exit.status),
            python::last_line(&stderr)
        );
    }
    let ok = stdout.lines().filter(|line| line.trim() == "200").count() as u64;
    Ok(CurlRun {
        wall,
        cpu: crate::cputime::rusage_total(&exit.usage),
        ok,
        peak_memory_bytes,
    })
}

/// The curl row for `urls` (`pages` lines): measured like abreast's rows (warm-up, then timed
/// runs), or skipped with a note where curl is not installed. `server` are the in-process
/// site's threads, whose CPU is shown apart.
pub(crate) fn row(
    timing: &Timing<'_>,
    dir: &Path,
    urls: &str,
    pages: u64,
    server: Option<&ThreadClocks>,
) -> anyhow::Result<Row> {
    row_with(timing, dir, urls, pages, server, "")
}

/// As [`row`], with `options` (lines of curl's config file, such as `cacert = "FILE"` and
/// `resolve = "NAME:PORT:127.0.0.1"`) before the URLs.
pub(crate) fn row_with(
    timing: &Timing<'_>,
    dir: &Path,
    urls: &str,
    pages: u64,
    server: Option<&ThreadClocks>,
    options: &str,
) -> anyhow::Result<Row> {
    if let Err(why) = curl_version() {
        return Ok(Row::skipped(
            Mechanism::Async,
            Implementation::Curl,
            PARALLEL_MAX,
            pages,
            format!("skipped: {why}"),
        ));
    }
    timing.progress.case("curl -Z");
    let config = dir.join("curl.conf");
    let mut text = String::with_capacity(options.len() + urls.len() * 2);
    text.push_str(options);
    for url in urls.lines() {
        // The config file's quoting: a backslash or a quote is escaped with a backslash.
        let quoted = quote(url);
        text.push_str(&format!("url = {quoted}\noutput = \"/dev/null\"\n"));
    }
    std::fs::write(&config, text).context("could not write curl's config file")?;
    for _ in 0..timing.bench.warmup {
        check(run_once(&config)?, pages).context("curl failed in its warm-up")?;
    }
    let (mut wall, mut cpu, mut server_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let mut peak_memory_bytes = None;
    for _ in 0..timing.bench.runs {
        let clock = CpuClock::start(server, None);
        let run = check(run_once(&config)?, pages).context("curl failed")?;
        if let Some(seconds) = clock.finish().excluded {
            server_cpu.push(seconds);
        }
        wall.push(run.wall);
        cpu.push(run.cpu);
        peak_memory_bytes = peak_memory_bytes.max(run.peak_memory_bytes);
    }
    timing.progress.case_done();
    Ok(Row::timed(
        Mechanism::Async,
        Implementation::Curl,
        PARALLEL_MAX,
        pages,
        &wall,
    )
    .context("no timed runs")?
    .with_cpu(&cpu)
    .with_server_cpu(&server_cpu)
    .with_peak_memory(peak_memory_bytes))
}

/// A value for curl's config file: in double quotes, a backslash or a quote escaped with a
/// backslash.
pub(crate) fn quote(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// The run, unless it got fewer than `pages` pages.
fn check(run: CurlRun, pages: u64) -> anyhow::Result<CurlRun> {
    if run.ok != pages {
        bail!("curl got {} of {pages} pages with status 200", run.ok);
    }
    Ok(run)
}
