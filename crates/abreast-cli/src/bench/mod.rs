//! `abreast bench`: the command line of the abreast-bench library. Parses the arguments into the
//! library's [`Sizes`], shows progress, runs the suites, and prints or exports the report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod broker;

use abreast_bench::{Bench, Progress, Sizes, SuiteName};
use clap::{Args, ValueEnum};

/// Arguments of `abreast bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which suite to run.
    #[arg(value_enum, default_value_t = Suite::All)]
    suite: Suite,
    /// Unmeasured runs of each case before the measured ones.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Measured runs of each case.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Also run the explainer's Python programs on the same work (needs python3; requests and
    /// aiohttp for the fetch rows: python3 -m pip install requests aiohttp).
    #[arg(long)]
    with_python: bool,
    /// Leave out the fetch suites' `curl -Z` reference row, and the `async no extraction` row
    /// that does curl's work.
    #[arg(long)]
    no_curl: bool,
    /// Print one JSON object per row on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Write the report as JSON to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    export_json: Option<PathBuf>,
    /// Write the report as Markdown tables to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    export_markdown: Option<PathBuf>,
    /// Write the report as CSV to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    export_csv: Option<PathBuf>,
    /// Draw the comparison as an SVG chart in FILE.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    #[command(flatten)]
    sizes: SizeArgs,
}

/// The sizes of the work; the defaults keep `abreast bench` within a minute on 2 cores.
#[derive(Debug, Clone, Args)]
struct SizeArgs {
    /// fetch: pages fetched behind latency (with --base-url: pages fetched from that server).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pages: u64,
    /// fetch: the test site's latency per response.
    #[arg(long, default_value = "50ms", value_parser = crate::fetch::parse_duration)]
    latency: Duration,
    /// fetch and cpu: size of each page.
    #[arg(long, default_value = "64K", value_parser = crate::fetch::parse_size)]
    page_size: u64,
    /// fetch: pages fetched with no added latency, for raw throughput (0 skips this part).
    #[arg(long, default_value_t = 2000)]
    throughput_pages: u64,
    /// fetch: measure against this server instead of the built-in test site: page I is
    /// BASE/page/I for I below --pages (a trailing / on BASE is dropped). `abreast serve
    /// --export DIR` writes the test site's pages as files for any web server.
    #[arg(long, value_name = "BASE", conflicts_with_all = ["latency", "throughput_pages"])]
    base_url: Option<String>,
    /// fetch: over HTTPS across --hosts host names (https://hN.site.test:PORT/page/M, the test
    /// site's CA and name server) instead of plain HTTP: --tls-pages pages with no latency, the
    /// same from one host name, and --pages behind --latency. Rows note the connections and DNS
    /// queries per host.
    #[arg(long, conflicts_with_all = ["base_url", "throughput_pages"])]
    tls: bool,
    /// fetch --tls: how many host names.
    #[arg(
        long,
        default_value_t = 1000,
        requires = "tls",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    hosts: u64,
    /// fetch --tls: pages fetched with no added latency.
    #[arg(
        long,
        default_value_t = 5000,
        requires = "tls",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    tls_pages: u64,
    /// cpu: pages whose metadata is extracted.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    cpu_pages: u64,
    /// cpu: compute tasks, each summing the squares below a number (0: four per worker).
    #[arg(long, default_value_t = 0)]
    square_tasks: u64,
    /// cpu: the numbers each compute task sums the squares below (25,000,000: about 20 ms).
    #[arg(long, default_value_t = 25_000_000)]
    square_size: u64,
    /// overhead: trivial tasks per run of each case.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    tasks: u64,
    /// overhead: coroutines kept waiting at once for the memory case.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    waiting: u64,
    /// Worker threads or processes for CPU work (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// broker: pages of the cost comparison (no latency); the scaling part uses --pages behind
    /// --latency.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    broker_pages: u64,
}

impl SizeArgs {
    fn sizes(&self) -> anyhow::Result<Sizes> {
        if let Some(base) = &self.base_url {
            anyhow::ensure!(
                base.starts_with("http://") || base.starts_with("https://"),
                "--base-url {base:?} is not an http:// or https:// URL; give the server's base, \
                 such as http://127.0.0.1:8080/"
            );
        }
        Ok(Sizes {
            pages: self.pages,
            latency: self.latency,
            page_size: self.page_size,
            throughput_pages: self.throughput_pages,
            base_url: self.base_url.clone(),
            tls_hosts: self.tls.then_some(self.hosts),
            tls_pages: self.tls_pages,
            cpu_pages: self.cpu_pages,
            square_tasks: self.square_tasks,
            square_size: self.square_size,
            tasks: self.tasks,
            waiting: self.waiting,
            threads: self.threads,
        })
    }
}

/// The suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    /// I/O-bound: many pages behind latency, and raw throughput.
    Fetch,
    /// CPU-bound: metadata extraction from large pages, and a pure compute task.
    Cpu,
    /// Per-task cost of each mechanism on trivial tasks, and the memory of waiting coroutines.
    Overhead,
    /// Every suite above (not broker).
    All,
    /// The cost of a job on Redis Streams against a plain fetch, and 1, 2 and 4 workers behind
    /// latency (needs redis-server).
    Broker,
}

impl Suite {
    /// The library's suite; `None` for the broker's, which the CLI runs (its workers are this
    /// executable).
    fn library_suite(self) -> Option<SuiteName> {
        match self {
            Suite::Fetch => Some(SuiteName::Fetch),
            Suite::Cpu => Some(SuiteName::Cpu),
            Suite::Overhead => Some(SuiteName::Overhead),
            Suite::All => Some(SuiteName::All),
            Suite::Broker => None,
        }
    }
}

/// The bench's progress on a bar on stderr.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn suite(&self, name: &str) {
        self.0.set_prefix(format!("bench {name}"));
    }

    fn case(&self, label: &str) {
        self.0.set_message(label.to_owned());
    }

    fn case_done(&self) {
        self.0.inc(1);
    }
}

/// Runs the chosen suites and prints the report.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let sizes = args.sizes.sizes()?;
    let mut bench = Bench::new(args.warmup, args.runs);
    bench.curl = !args.no_curl;
    if args.with_python {
        bench = bench.with_python();
    }
    match &bench.python {
        Some(Err(skip)) => eprintln!("abreast bench: Python rows {skip}"),
        Some(Ok(python)) => eprintln!("abreast bench: Python rows with {}", python.version()),
        None => {}
    }
    let bar = Bar(crate::progress::bar(None, "bench"));
    // The fetch suites' test site and clients write to sockets in this process.
    let sockets = crate::serve::SigpipeIgnored::new();
    let report = match args.suite.library_suite() {
        Some(suite) => abreast_bench::run(&bench, &[suite], &sizes, &bar)?,
        None => broker::run(&broker::BrokerSizes {
            pages: args.sizes.broker_pages,
            page_size: args.sizes.page_size,
            scaling_pages: args.sizes.pages,
            latency: args.sizes.latency,
            warmup: args.warmup,
            runs: args.runs,
        })?,
    };
    drop(sockets);
    bar.0.finish_and_clear();
    if args.json {
        for row in abreast_bench::json_rows(&report) {
            println!("{}", serde_json::to_string(&row)?);
        }
    } else {
        print!("{}", report.render_text());
    }
    if let Some(path) = &args.export_json {
        abreast_bench::export::export_json(&report, path)?;
    }
    if let Some(path) = &args.export_markdown {
        abreast_bench::export::export_markdown(&report, path)?;
    }
    if let Some(path) = &args.export_csv {
        abreast_bench::export::export_csv(&report, path)?;
    }
    if let Some(path) = &args.chart {
        abreast_bench::chart::export_svg(&report, path)?;
    }
    Ok(ExitCode::SUCCESS)
}
