//! `abreast serve`: the local test site (abreast-site) as a command, for demos, manual runs
//! and load tests. The first line of stdout is its base URL; Ctrl-C stops it.

use std::io::Write;
use std::net::SocketAddr;
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
}

/// Runs `abreast serve` until Ctrl-C.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = SiteConfig::default()
        .pages(args.pages)
        .page_size(usize::try_from(args.page_size).context("--page-size is too large")?)
        .latency(args.latency)
        .addr(args.addr)
        .seed(args.seed);
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
