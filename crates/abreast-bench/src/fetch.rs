//! The `fetch` suite: the example job, I/O-bound. Every mode of `abreast fetch` (and, with
//! `--with-python`, the explainer's three programs) fetches the same pages from the local test
//! site in the same run: first `--pages` pages behind `--latency`, where waiting dominates, then
//! `--throughput-pages` pages with no added latency, where transfer and extraction dominate.

use std::io::Cursor;
use std::time::Duration;

use abreast_fetch::output::Done;
use abreast_fetch::{FetchConfig, Format, HttpSettings, Mode, RecordWriter, StopSignal};
use abreast_site::{Latency, RunningSite, Site, SiteConfig};
use anyhow::Context as _;

use super::python::{self, Program, PythonCase};
use super::report::{Mechanism, Row, SuiteReport};
use super::{Bench, Sizes};

/// Requests in flight per mode in the bench: 64 threads and 64 worker processes (each costs a
/// stack or a process), and for the coroutines a thousand behind latency (each waits for a few
/// hundred bytes) but, with no latency, the 100 connections of the explainer's aiohttp program:
/// there, more connections only add set-up and scheduling (on 2 cores hybrid fetches 16k pages/s
/// with 1000, 25k with 100).
fn concurrency(mode: Mode, latency: Duration) -> usize {
    match mode {
        Mode::Threads | Mode::Processes => 64,
        Mode::Async | Mode::Hybrid if latency.is_zero() => 100,
        Mode::Async | Mode::Hybrid => 1000,
    }
}

fn mechanism(mode: Mode) -> Mechanism {
    match mode {
        Mode::Threads => Mechanism::Threads,
        Mode::Async => Mechanism::Async,
        Mode::Processes => Mechanism::Processes,
        Mode::Hybrid => Mechanism::Hybrid,
    }
}

/// Fetches every line of `urls` with `mode`; fails unless every page came back.
fn fetch_all(
    mode: Mode,
    concurrency: usize,
    urls: &str,
    pages: u64,
    workers: Option<usize>,
) -> anyhow::Result<()> {
    let config = FetchConfig {
        mode,
        concurrency: Some(concurrency),
        workers,
        per_host: concurrency,
        http: HttpSettings {
            retries: 0,
            ..HttpSettings::default()
        },
        ..FetchConfig::default()
    };
    let mut writer = RecordWriter::new(std::io::sink(), Format::Jsonl, false)?;
    let summary = abreast_fetch::run(
        &config,
        Cursor::new(urls.to_owned()),
        Done::default(),
        &mut writer,
        &StopSignal::new(),
        &mut |_, _| {},
    )?;
    anyhow::ensure!(
        summary.ok == pages,
        "{mode}: only {} of {pages} pages came back ({summary})",
        summary.ok
    );
    Ok(())
}

/// The test site on a runtime of its own with one thread per two CPUs, so that on a large
/// machine the server is never what limits the fetchers.
struct BenchSite {
    runtime: tokio::runtime::Runtime,
    site: Option<RunningSite>,
}

impl BenchSite {
    fn start(config: SiteConfig) -> anyhow::Result<BenchSite> {
        let threads = (std::thread::available_parallelism().map_or(1, usize::from) / 2).max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("abreast-bench-site")
            .enable_all()
            .build()
            .context("could not start the test site's runtime")?;
        let site = runtime
            .block_on(Site::start(config))
            .context("could not start the local test site")?;
        Ok(BenchSite {
            runtime,
            site: Some(site),
        })
    }

    fn base_url(&self) -> &str {
        self.site.as_ref().map_or("", RunningSite::base_url)
    }
}

impl Drop for BenchSite {
    fn drop(&mut self) {
        if let Some(site) = self.site.take() {
            self.runtime.block_on(site.shutdown());
        }
    }
}

/// One part of the suite: every mode (and the Python programs) on one site.
fn part(bench: &Bench, sizes: &Sizes, pages: u64, latency: Duration) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let site_latency = if latency.is_zero() {
        Latency::None
    } else {
        Latency::Fixed(latency)
    };
    let site = BenchSite::start(
        SiteConfig::default()
            .pages(pages)
            .page_size(usize::try_from(sizes.page_size)?)
            .latency(site_latency),
    )?;
    let urls: String = (0..pages)
        .map(|n| format!("{}/page/{n}\n", site.base_url()))
        .collect();
    for mode in Mode::ALL {
        let label = format!("fetch {mode}");
        let concurrency = concurrency(mode, latency);
        rows.push(bench.row(mechanism(mode), concurrency, pages, &label, || {
            fetch_all(mode, concurrency, &urls, pages, sizes.threads_given())
        })?);
    }
    if bench.python.is_some() {
        let dir = tempfile::tempdir().context("could not make a temporary folder")?;
        let list = dir.path().join("urls.txt");
        std::fs::write(&list, &urls).context("could not write the URL list")?;
        // The explainer's programs as it wrote them: 5 threads, aiohttp's default limit of
        // 100 connections, and a Pool of one process per CPU.
        for (program, mechanism, workers) in [
            (Program::ThreadsFetch, Mechanism::Threads, 5),
            (Program::AsyncFetch, Mechanism::Async, 100),
            (
                Program::ProcessesFetch,
                Mechanism::Processes,
                sizes.cpu_workers(),
            ),
        ] {
            let case = PythonCase {
                program,
                args: python::args([
                    list.as_os_str().to_owned(),
                    "--workers".into(),
                    workers.to_string().into(),
                ]),
                mechanism,
                variant: None,
                workers,
                tasks: pages,
            };
            rows.extend(bench.python_row(&case, Duration::from_secs(600)));
        }
    }
    Ok(rows)
}

/// Runs the suite: `fetch` (behind latency) and, unless `--throughput-pages 0`,
/// `fetch-throughput` (no added latency).
pub fn suites(bench: &Bench, sizes: &Sizes) -> anyhow::Result<Vec<SuiteReport>> {
    let kib = sizes.page_size / 1024;
    let mut suites = vec![SuiteReport {
        name: "fetch".into(),
        description: format!(
            "{} pages of {kib} KiB behind {} of latency: I/O-bound",
            sizes.pages,
            humantime::format_duration(sizes.latency)
        ),
        unit: "pages".into(),
        rows: part(bench, sizes, sizes.pages, sizes.latency)?,
    }];
    if sizes.throughput_pages > 0 {
        suites.push(SuiteReport {
            name: "fetch-throughput".into(),
            description: format!(
                "{} pages of {kib} KiB with no added latency: transfer and extraction",
                sizes.throughput_pages
            ),
            unit: "pages".into(),
            rows: part(bench, sizes, sizes.throughput_pages, Duration::ZERO)?,
        });
    }
    Ok(suites)
}
