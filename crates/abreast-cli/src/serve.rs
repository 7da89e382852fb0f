//! `abreast serve`: the local test site (abreast-site) as a command, for demos, manual runs
//! and load tests. The first line of stdout is its base URL; Ctrl-C stops it. With `--export
//! DIR` it writes the site's pages to `DIR/page/N` instead, for another web server (nginx) to
//! serve to `abreast bench fetch --base-url`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use abreast_site::{Latency, Site, SiteConfig};
use anyhow::Context as _;
use clap::Args;

/// Arguments of `abreast serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// How many pages: /page/N exists for N below this.
    #[arg(long, default_value_t = 1000)]
    pages: u64,
    /// Size of each page body (for example 64K, 1MiB).
    #[arg(long, value_name = "SIZE", default_value = "64K", value_parser = crate::fetch::parse_size)]
    page_size: u64,
    /// Wait before each response: 0, 50ms, 1s, or a distribution such as uniform:20ms..80ms.
    #[arg(long, default_value = "0")]
    latency: Latency,
    /// Where to listen; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Seed of every deterministic choice (page topics, latency draws).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads of the server's runtime (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Write the pages to DIR/page/0 … DIR/page/{pages-1} (the bytes the site serves) and exit,
    /// instead of serving them.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["latency", "addr", "threads"])]
    export: Option<PathBuf>,
    /// With --export: the URL the files will be served under (each page's canonical link
    /// names BASE/page/N, and its length counts in the page size).
    #[arg(
        long,
        value_name = "BASE",
        requires = "export",
        default_value = "http://127.0.0.1:8080"
    )]
    base_url: String,
}

/// Runs `abreast serve` until Ctrl-C, or writes the pages with `--export`.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = SiteConfig::default()
        .pages(args.pages)
        .page_size(usize::try_from(args.page_size).context("--page-size is too large")?)
        .latency(args.latency)
        .addr(args.addr)
        .seed(args.seed);
    if let Some(dir) = &args.export {
        let bytes = abreast_site::export_pages(&config, &args.base_url, dir)
            .with_context(|| format!("could not export the pages to {}", dir.display()))?;
        eprintln!(
            "abreast serve: wrote {} pages ({bytes} bytes) to {}/page/, for {}/page/N",
            args.pages,
            dir.display(),
            args.base_url.trim_end_matches('/')
        );
        return Ok(ExitCode::SUCCESS);
    }
    abreast::coroutines::run_multi_thread(args.threads, async move {
        let site = Site::start(config)
            .await
            .with_context(|| format!("could not start the test site on {}", args.addr))?;
        // Listen for Ctrl-C before the URL is printed: whoever reads the URL may stop us at once.
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("could not install the Ctrl-C handler")?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{}", site.base_url())?;
        stdout.flush()?;
        eprintln!(
            "abreast serve: {} pages of {} bytes at {} (latency {}); Ctrl-C stops",
            args.pages,
            args.page_size,
            site.base_url(),
            args.latency
        );
        interrupt.recv().await;
        let requests = site.counters().requests();
        site.shutdown().await;
        eprintln!("abreast serve: stopped after {requests} requests");
        Ok(ExitCode::SUCCESS)
    })?
}
