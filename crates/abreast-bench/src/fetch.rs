//! The `fetch` suites: the example job, I/O-bound. Every mode of `abreast fetch` (and, with the
//! Python rows, the explainer's three programs, and `curl -Z` as the reference) fetches the same
//! pages in the same run.
//!
//! On the built-in test site, started in this process on threads of its own: first `pages` pages
//! behind `latency`, where waiting dominates (`fetch`), then `throughput_pages` pages with no added
//! latency, where transfer and extraction dominate (`fetch-throughput`). The site's threads
//! register their CPU clocks, so each row's CPU is the client's alone and the server's is shown
//! beside it. With [`Sizes::base_url`], one part (`fetch-external`) fetches `pages` pages from that
//! server instead: `{base}/page/0` to `{base}/page/{pages - 1}`.
//!
//! Beside curl, which only fetches, the async mode runs once more with extraction off
//! (`async no extraction`, as `abreast fetch --no-extract`): the same work as curl's, so the two
//! rows compare the HTTP clients, and the other rows show what extracting the pages adds.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use abreast_fetch::{
    Extraction, FetchConfig, Format, Mode, RecordWriter, ResumeLedger, StopSignal,
};
use abreast_site::{Latency, RunningSite, Site, SiteConfig};
use anyhow::Context as _;

use crate::cputime::ThreadClocks;
use crate::python::{Program, PythonCase};
use crate::report::{Mechanism, Row, SuiteReport};
use crate::{Sizes, Timing, page_urls};

/// Requests in flight per mode in the bench: 64 threads and 64 worker processes (each costs a
/// stack or a process), and for the coroutines a thousand behind latency (each waits for a few
/// hundred bytes) but, with no latency, the 100 connections of the explainer's aiohttp program:
/// there, more connections only add set-up and scheduling.
pub(crate) fn concurrency(mode: Mode, latency: Duration) -> usize {
    match mode {
        Mode::Threads | Mode::Processes => 64,
        Mode::Async | Mode::Hybrid if latency.is_zero() => 100,
        Mode::Async | Mode::Hybrid => 1000,
    }
}

pub(crate) fn mechanism(mode: Mode) -> Mechanism {
    match mode {
        Mode::Threads => Mechanism::Threads,
        Mode::Async => Mechanism::Async,
        Mode::Processes => Mechanism::Processes,
        Mode::Hybrid => Mechanism::Hybrid,
    }
}

/// Fetches every line of `urls` with `mode`, extracting as `extraction` says; fails unless
/// every page came back.
fn fetch_all(
    mode: Mode,
    extraction: Extraction,
    concurrency: usize,
    urls: &str,
    pages: u64,
    workers: Option<usize>,
) -> anyhow::Result<()> {
    fetch_all_with(
        FetchConfig::default(),
        mode,
        extraction,
        concurrency,
        urls,
        pages,
        workers,
    )
}

/// As [`fetch_all`], starting from `config` (for settings of the client's own, such as the
/// HTTPS suites' CA and name server).
pub(crate) fn fetch_all_with(
    mut config: FetchConfig,
    mode: Mode,
    extraction: Extraction,
    concurrency: usize,
    urls: &str,
    pages: u64,
    workers: Option<usize>,
) -> anyhow::Result<()> {
    config.mode = mode;
    config.concurrency = Some(concurrency);
    config.workers = workers;
    config.per_host = concurrency;
    config.http.retries = 0;
    config.http.extraction = extraction;
    let mut writer = RecordWriter::new(std::io::sink(), Format::Jsonl, false)?;
    let summary = abreast_fetch::run(
        &config,
        Cursor::new(urls.to_owned()),
        ResumeLedger::default(),
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
/// machine the server is never what limits the fetchers. Its threads register their CPU clocks
/// in [`BenchSite::threads`].
pub(crate) struct BenchSite {
    runtime: tokio::runtime::Runtime,
    site: Option<RunningSite>,
    pub(crate) threads: Arc<ThreadClocks>,
}

impl BenchSite {
    pub(crate) fn start(config: SiteConfig) -> anyhow::Result<BenchSite> {
        let threads = ThreadClocks::new();
        let (starting, stopping) = (Arc::clone(&threads), Arc::clone(&threads));
        let workers = (std::thread::available_parallelism().map_or(1, usize::from) / 2).max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("abreast-bench-site")
            .on_thread_start(move || starting.register_current())
            .on_thread_stop(move || stopping.unregister_current())
            .enable_all()
            .build()
            .context("could not start the test site's runtime")?;
        let site = runtime
            .block_on(Site::start(config))
            .context("could not start the local test site")?;
        // A worker thread registers its clock when it starts running, which on a busy machine
        // can be after the first case began: wait for all of them, so every case counts them.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while threads.clocks().len() < workers {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the test site's {workers} threads did not start within a minute"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(BenchSite {
            runtime,
            site: Some(site),
            threads,
        })
    }

    fn base_url(&self) -> &str {
        self.site.as_ref().map_or("", RunningSite::base_url)
    }

    /// The running site (its counters, CA and name server).
    pub(crate) fn site(&self) -> &RunningSite {
        self.site.as_ref().expect("the site runs until the drop")
    }
}

impl Drop for BenchSite {
    fn drop(&mut self) {
        if let Some(site) = self.site.take() {
            self.runtime.block_on(site.shutdown());
        }
    }
}

/// One part of the suite: every mode, the curl reference and the Python programs on the pages
/// of `urls`; `server` are the in-process site's threads, if it is in this process.
fn part(
    bench: &Timing<'_>,
    sizes: &Sizes,
    urls: &str,
    pages: u64,
    latency: Duration,
    server: Option<&ThreadClocks>,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for mode in Mode::ALL {
        let label = format!("fetch {mode}");
        let concurrency = concurrency(mode, latency);
        rows.push(
            bench.row_beside(server, mechanism(mode), concurrency, pages, &label, || {
                fetch_all(
                    mode,
                    Extraction::Full,
                    concurrency,
                    urls,
                    pages,
                    sizes.threads_given(),
                )
            })?,
        );
    }
    let dir = tempfile::tempdir().context("could not make a temporary folder")?;
    if bench.bench.curl {
        let concurrency = concurrency(Mode::Async, latency);
        let label = "fetch async, no extraction";
        let bare = bench.row_beside(server, Mechanism::Async, concurrency, pages, label, || {
            fetch_all(Mode::Async, Extraction::Off, concurrency, urls, pages, None)
        })?;
        rows.push(bare.with_variant("no extraction"));
        rows.push(crate::curl::row(bench, dir.path(), urls, pages, server)?);
    }
    if bench.python_rows() {
        let list = dir.path().join("urls.txt");
        std::fs::write(&list, urls).context("could not write the URL list")?;
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
            let case = PythonCase::fetching(program, mechanism, workers, &list, pages, []);
            rows.extend(bench.python_row(&case, Duration::from_secs(600)));
        }
        // The explainer's readers with abreast: the hybrid mode from Python, as many requests
        // in flight as the Rust rows of the coroutine modes.
        let workers = concurrency(Mode::Hybrid, latency);
        let case = PythonCase::fetching(
            Program::AbreastFetch,
            Mechanism::Hybrid,
            workers,
            &list,
            pages,
            [],
        )
        .with_variant("with abreast");
        rows.extend(bench.python_row(&case, Duration::from_secs(600)));
    }
    Ok(rows)
}

/// One part on the built-in test site, started for it.
fn local_part(
    bench: &Timing<'_>,
    sizes: &Sizes,
    pages: u64,
    latency: Duration,
) -> anyhow::Result<Vec<Row>> {
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
    let urls = page_urls(site.base_url(), pages);
    part(bench, sizes, &urls, pages, latency, Some(&site.threads))
}

/// Runs the suite: on the built-in site `fetch` (behind latency) and, unless
/// `throughput_pages` is 0, `fetch-throughput` (no added latency); with a base URL, one part
/// `fetch-external` on that server.
pub fn suites(bench: &Timing<'_>, sizes: &Sizes) -> anyhow::Result<Vec<SuiteReport>> {
    let kib = sizes.page_size / 1024;
    if let Some(base) = &sizes.base_url {
        let urls = page_urls(base, sizes.pages);
        return Ok(vec![SuiteReport {
            name: "fetch-external".into(),
            description: format!(
                "{} pages from {}/page/N: the server's latency and page size; CPU is the \
                 client's alone",
                sizes.pages,
                base.trim_end_matches('/')
            ),
            unit: "pages".into(),
            // The coroutines get 100 connections, as against a server with no added latency.
            rows: part(bench, sizes, &urls, sizes.pages, Duration::ZERO, None)?,
        }]);
    }
    let mut suites = vec![SuiteReport {
        name: "fetch".into(),
        description: format!(
            "{} pages of {kib} KiB behind {} of latency: I/O-bound; the test site runs in this \
             process, its CPU apart",
            sizes.pages,
            humantime::format_duration(sizes.latency)
        ),
        unit: "pages".into(),
        rows: local_part(bench, sizes, sizes.pages, sizes.latency)?,
    }];
    if sizes.throughput_pages > 0 {
        suites.push(SuiteReport {
            name: "fetch-throughput".into(),
            description: format!(
                "{} pages of {kib} KiB with no added latency: transfer and extraction",
                sizes.throughput_pages
            ),
            unit: "pages".into(),
            rows: local_part(bench, sizes, sizes.throughput_pages, Duration::ZERO)?,
        });
    }
    Ok(suites)
}
