//! `abreast serve`: the local test site (abreast-site) as a command, for demos, manual runs
//! and load tests. The first line of stdout is its base URL (`https://site.test:PORT` with
//! `--tls`); with `--dns` a line `dns IP:PORT` follows, with `--ca-out` a line `ca FILE`. Ctrl-C
//! stops it. With `--export DIR` it writes the site's pages to `DIR/page/N` instead, for another
//! web server (nginx) to serve to `abreast bench fetch --base-url`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use abreast_site::{DEFAULT_DOMAIN, Latency, Site, SiteConfig};
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
    /// Serve HTTPS too, on the same port, for any host name: a certificate per name (SNI),
    /// signed by a CA made at start; ALPN offers h2 and http/1.1. The first stdout line becomes
    /// https://DOMAIN:PORT.
    #[arg(long)]
    tls: bool,
    /// With --tls: write the CA's certificate (PEM) to FILE, for clients to trust (curl
    /// --cacert FILE, abreast fetch --cacert FILE). Without it the PEM goes to stderr.
    #[arg(long, value_name = "FILE", requires = "tls")]
    ca_out: Option<PathBuf>,
    /// Run a DNS server (UDP and TCP) on this port of the site's IP (0: any free port) that
    /// answers A 127.0.0.1 and AAAA ::1 for DOMAIN and every name under it, NXDOMAIN for others.
    #[arg(long, value_name = "PORT")]
    dns: Option<u16>,
    /// The domain of the site's names (--tls URL, --dns answers).
    #[arg(long, default_value = DEFAULT_DOMAIN)]
    domain: String,
    /// Write the pages to DIR/page/0 … DIR/page/{pages-1} (the bytes the site serves) and exit,
    /// instead of serving them.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["latency", "addr", "threads", "tls", "dns"]
    )]
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

/// While alive, SIGPIPE is ignored; dropping it restores the default that `main` set (a closed
/// stdout pipe ends the program quietly). Sockets need it ignored: vectored writes (`writev`,
/// which hyper and rustls use) cannot ask for no signal as `send` can, so a client that hangs up
/// while the test site writes to it would otherwise kill the whole program with SIGPIPE.
#[derive(Debug)]
pub(crate) struct SigpipeIgnored(());

impl SigpipeIgnored {
    /// Ignores SIGPIPE until the guard is dropped.
    pub(crate) fn new() -> SigpipeIgnored {
        // SAFETY: SIG_IGN is a valid disposition for SIGPIPE; signal() is async-signal-safe
        // and affects only how the signal is delivered.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        SigpipeIgnored(())
    }
}

impl Drop for SigpipeIgnored {
    fn drop(&mut self) {
        // SAFETY: as in `new`; SIG_DFL is main's disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
}

/// Runs `abreast serve` until Ctrl-C, or writes the pages with `--export`.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = SiteConfig::default()
        .pages(args.pages)
        .page_size(usize::try_from(args.page_size).context("--page-size is too large")?)
        .latency(args.latency)
        .addr(args.addr)
        .seed(args.seed)
        .tls(args.tls)
        .dns(args.dns.map(|port| SocketAddr::new(args.addr.ip(), port)))
        .domain(args.domain.clone());
    if let Some(dir) = &args.export {
        let bytes = abreast_site::export_pages(&config, &args.base_url, dir)
            .with_context(|| format!("could not export the pages to {}", dir.display()))?;
        eprintln!(
            "abreast serve: wrote {} pages ({bytes} bytes) to {}, for {}/page/N",
            args.pages,
            dir.join("page").join("").display(),
            args.base_url.trim_end_matches('/')
        );
        return Ok(ExitCode::SUCCESS);
    }
    let _sockets = SigpipeIgnored::new();
    abreast::coroutines::run_multi_thread(args.threads, async move {
        let site = Site::start(config)
            .await
            // The site's error names the address that failed: the HTTP one or the DNS one.
            .context("could not start the test site")?;
        if let (Some(path), Some(pem)) = (&args.ca_out, site.ca_pem()) {
            std::fs::write(path, pem).with_context(|| {
                format!(
                    "could not write the CA certificate to {}; pick a writable path for --ca-out",
                    path.display()
                )
            })?;
        }
        // Listen for Ctrl-C before the URL is printed: whoever reads the URL may stop us at once.
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("could not install the Ctrl-C handler")?;
        let url = site.https_base_url().unwrap_or(site.base_url()).to_owned();
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{url}")?;
        if let Some(dns) = site.dns_addr() {
            writeln!(stdout, "dns {dns}")?;
        }
        if let Some(path) = &args.ca_out {
            writeln!(stdout, "ca {}", path.display())?;
        }
        stdout.flush()?;
        eprintln!(
            "abreast serve: {} pages of {} bytes at {} (latency {}); Ctrl-C stops",
            args.pages,
            args.page_size,
            site.base_url(),
            args.latency
        );
        if let Some(https) = site.https_base_url() {
            let domain = site.domain();
            let port = site.addr().port();
            eprintln!(
                "abreast serve: HTTPS on the same port for any name, e.g. {https}/page/3 or \
                 https://h17.{domain}:{port}/page/3 (h2 and http/1.1)"
            );
            match (&args.ca_out, site.ca_pem()) {
                (Some(path), _) => eprintln!(
                    "abreast serve: the CA certificate is in {}: curl --cacert {0} \
                     --resolve h17.{domain}:{port}:{ip} https://h17.{domain}:{port}/page/3",
                    path.display(),
                    ip = site.addr().ip()
                ),
                (None, Some(pem)) => {
                    eprintln!("abreast serve: the CA certificate (use --ca-out FILE to save it):");
                    eprint!("{pem}");
                }
                (None, None) => {}
            }
        }
        if let Some(dns) = site.dns_addr() {
            eprintln!(
                "abreast serve: DNS on {dns} (UDP and TCP): A 127.0.0.1 and AAAA ::1 for {} and \
                 every name under it, NXDOMAIN for others",
                site.domain()
            );
        }
        interrupt.recv().await;
        let counters = site.counters();
        let requests = counters.requests();
        let (handshakes, hosts) = (counters.tls_handshakes(), counters.tls_hosts().len());
        let queries = counters.dns_queries();
        site.shutdown().await;
        let mut summary = format!("abreast serve: stopped after {requests} requests");
        if args.tls {
            summary.push_str(&format!(
                ", {handshakes} TLS connections to {hosts} host names"
            ));
        }
        if args.dns.is_some() {
            summary.push_str(&format!(", {queries} DNS queries"));
        }
        eprintln!("{summary}");
        Ok(ExitCode::SUCCESS)
    })?
}
