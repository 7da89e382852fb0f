//! `abreast fetch`: the example job. Reads URLs, fetches them at once with the chosen
//! mechanism, writes one record per line (JSONL or CSV), and prints a summary on stderr.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use abreast_fetch::{
    Extraction, FetchConfig, Format, HttpSettings, Mode, RecordWriter, ResumeLedger, Shard,
    StopSignal, open_for_resume,
};
use anyhow::Context as _;
use clap::{Args, ValueEnum};

/// Arguments of `abreast fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// File of URLs, one per line (blank lines and `#` comments are skipped); `-` or nothing
    /// reads standard input.
    pub(crate) input: Option<PathBuf>,
    /// Write records to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
    pub(crate) format: FormatArg,
    /// The mechanism: threads (a blocking client, HTTP/1.1 only), async, processes (the
    /// blocking client in worker processes, HTTP/1.1 only), or hybrid (async I/O feeding
    /// extraction on parallel workers). async and hybrid speak HTTP/2 where offered.
    #[arg(long, default_value = "hybrid", value_parser = parse_mode)]
    mode: Mode,
    /// Requests in flight at once [default: threads 64, async and hybrid 256, processes 4 per CPU].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    jobs: Option<u64>,
    /// Requests in flight at once to one host.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub(crate) per_host: u64,
    /// Request starts per second to one host (for example 2 or 0.5, at least 0.000001);
    /// unlimited by default.
    #[arg(long, value_name = "PER_SECOND", value_parser = parse_rate)]
    pub(crate) rate: Option<f64>,
    /// Extraction threads (hybrid mode); default one per two CPUs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    workers: Option<u64>,
    /// Threads doing network I/O in hybrid mode; default one per two CPUs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    io_threads: Option<u64>,
    /// Write records in input order instead of as they complete (after a Ctrl-C, up to the
    /// first URL not fetched).
    #[arg(long)]
    ordered: bool,
    /// Skip the URLs that already have a record in the output file and append the rest
    /// (needs --output).
    #[arg(long, requires = "output")]
    pub(crate) resume: bool,
    /// Only the URLs whose host hashes to shard K of N (0 <= K < N), so N machines can split
    /// one list with no coordinator.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Time limit to connect (for example 10s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_time_limit)]
    connect_timeout: Duration,
    /// Time limit of one attempt, from its start to the last body byte.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_time_limit)]
    timeout: Duration,
    /// Retries of connect errors, 429 and 5xx, with exponential backoff and jitter.
    #[arg(long, value_name = "N", default_value_t = 2)]
    retries: u32,
    /// Body bytes kept at most (after decompression); a longer body is cut and marked truncated.
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = parse_max_bytes)]
    max_bytes: u64,
    /// Redirects followed at most (only to http and https).
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_redirects: u32,
    /// Stop reading each page once its `<head>` is complete.
    #[arg(long)]
    head_only: bool,
    /// Extract nothing: read each body to its end (or --max-bytes), decoded but not kept, and
    /// write only the fetch's fields (status, final URL, bytes, timing, errors), as a link
    /// check does.
    #[arg(long, conflicts_with = "head_only")]
    no_extract: bool,
    /// Accept invalid TLS certificates.
    #[arg(long)]
    insecure: bool,
    /// Trust the CA certificates of this PEM file beside the platform's roots (as curl's
    /// --cacert).
    #[arg(long, value_name = "FILE", value_parser = read_cacert)]
    cacert: Option<CaFile>,
    /// Ask this name server instead of the system's (repeatable); the port is 53 if not given.
    #[arg(long = "dns-server", value_name = "IP[:PORT]", value_parser = abreast_fetch::parse_dns_server)]
    dns_servers: Vec<std::net::SocketAddr>,
    /// Speak HTTP/1.1 only: offer no HTTP/2 by ALPN (the threads and processes modes speak
    /// HTTP/1.1 only anyway).
    #[arg(long = "http1.1")]
    http1_1: bool,
    /// The User-Agent header; its first word also names abreast's group in robots.txt
    /// [default: abreast/VERSION (+HOME)]. -H "User-Agent: ..." wins over it.
    #[arg(long, value_name = "TEXT", value_parser = parse_user_agent)]
    user_agent: Option<String>,
    /// robots.txt: `ignore` fetches every URL given, as curl and wget do for a list the user
    /// chose; `obey` fetches each host's robots.txt first (once per run) and gives the URLs it
    /// disallows a record of kind `robots` with no request.
    #[arg(long, value_name = "POLICY", default_value = "ignore", value_parser = parse_robots)]
    robots: abreast_fetch::RobotsPolicy,
    /// After the first Ctrl-C (or SIGTERM), how long to wait for the URLs in flight before
    /// abandoning them (they get no record, so --resume fetches them again).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    grace: Duration,
    /// Add a request header, for example -H "Accept-Language: fr" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Submit the input as a job to this broker (redis://[:PASSWORD@]HOST:PORT[/DB], or
    /// rediss:// for TLS) and collect the records that `abreast worker`s write; the fetch
    /// settings travel with the job.
    #[arg(long, value_name = "URL", requires = "job",
          conflicts_with_all = ["mode", "jobs", "workers", "io_threads", "ordered", "shard", "grace"])]
    pub(crate) broker: Option<String>,
    /// With --broker: the job's name (1 to 128 of A-Z a-z 0-9 . _ -); rerunning with the same
    /// name and input continues the job.
    #[arg(long, value_name = "NAME", value_parser = crate::broker::parse_job, requires = "broker")]
    pub(crate) job: Option<abreast_queue::JobName>,
    /// With --broker: how long a worker may hold a line without renewing it before another
    /// takes it (workers renew every third of it while they fetch).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_time_limit, requires = "broker")]
    pub(crate) lease: Duration,
    /// With --broker: deliveries of one line after which it gets a `gave_up` record (each
    /// worker that took it died or lost it).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000), requires = "broker")]
    pub(crate) max_deliveries: u32,
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Format {
        match format {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Csv => Format::Csv,
        }
    }
}

pub(crate) fn parse_mode(text: &str) -> Result<Mode, String> {
    text.parse::<Mode>().map_err(|error| error.to_string())
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate >= abreast_fetch::SLOWEST_RATE && rate.is_finite() => Ok(rate),
        Ok(rate) if rate > 0.0 => Err(format!(
            "{text:?} is slower than abreast waits between two requests to a host: give at \
             least 0.000001 (one request every 11.6 days)"
        )),
        _ => Err(format!(
            "{text:?} is not a positive number of requests per second (0.5, 10)"
        )),
    }
}

/// Parses durations such as `10s`, `500ms` or `1m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{text:?}: {error} (try 10s or 500ms)"))
}

/// Parses a time limit: a duration more than 0, which would end every attempt at once.
fn parse_time_limit(text: &str) -> Result<Duration, String> {
    let limit = parse_duration(text)?;
    if limit.is_zero() {
        return Err(format!(
            "{text:?}: a time limit of 0 ends every attempt before it starts; give more (10s, \
             500ms)"
        ));
    }
    Ok(limit)
}

/// Parses sizes such as `10MiB`, `64K` or `2G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    abreast_site::parse_size(text).map_err(|error| error.to_string())
}

/// A `--cacert` file, read and checked when the arguments are parsed.
#[derive(Debug, Clone)]
pub(crate) struct CaFile {
    pem: Vec<u8>,
}

/// Reads and checks a `--cacert` file; the error does not name the file, which clap's message
/// around it does.
fn read_cacert(path: &str) -> Result<CaFile, String> {
    let pem = std::fs::read(path).map_err(|error| {
        let cause = error.to_string();
        // The system's words without their number: "No such file or directory".
        let cause = cause
            .split(" (os error")
            .next()
            .unwrap_or(&cause)
            .to_owned();
        format!("could not read it: {cause}")
    })?;
    let mut check = HttpSettings::default();
    check
        .set_cacert(pem.clone())
        .map_err(|error| error.to_string())?;
    Ok(CaFile { pem })
}

/// Opens the URL list at `path`; a folder is refused here, with what to give instead (reading
/// it would fail with the system's bare "Is a directory").
pub(crate) fn open_url_list(path: &std::path::Path) -> anyhow::Result<File> {
    let file =
        File::open(path).with_context(|| format!("could not open the input {}", path.display()))?;
    if file.metadata().is_ok_and(|metadata| metadata.is_dir()) {
        anyhow::bail!(
            "the input {} is a folder: give a file of URLs, one per line, or - to read them \
             from stdin",
            path.display()
        );
    }
    Ok(file)
}

/// Refuses an output that is the input list itself (the same file, by any name): creating it
/// would empty the list before a line is read.
fn refuse_output_over_input(
    input: &std::path::Path,
    output: &std::path::Path,
) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(input_file), Ok(output_file)) = (std::fs::metadata(input), std::fs::metadata(output))
        && (input_file.dev(), input_file.ino()) == (output_file.dev(), output_file.ino())
    {
        anyhow::bail!(
            "the output {} is the input list {}: writing records there would erase its URLs; \
             give -o another file",
            output.display(),
            input.display()
        );
    }
    Ok(())
}

fn parse_robots(text: &str) -> Result<abreast_fetch::RobotsPolicy, String> {
    text.parse()
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not a header; write it as \"Name: value\""))?;
    let (name, value) = (name.trim(), value.trim());
    // The modes would differ: ureq leaves a blank one out, hyper sends it empty.
    if name.eq_ignore_ascii_case("user-agent") {
        parse_user_agent(value)?;
    }
    abreast_fetch::check_header(name, value).map_err(|error| error.to_string())?;
    Ok((name.to_owned(), value.to_owned()))
}

fn parse_user_agent(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err(
            "the User-Agent is blank: give one (--user-agent \"MyBot/2.0 (+https://example.org/bot)\"), \
             or leave the flag out for abreast's own"
                .into(),
        );
    }
    abreast_fetch::check_header("User-Agent", text).map_err(|error| error.to_string())?;
    Ok(text.to_owned())
}

/// `--max-bytes`: a size of at least one byte (a cap of none would keep no page at all).
fn parse_max_bytes(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => {
            Err("a cap of 0 bytes keeps nothing of any page: give at least 1 (such as 64K)".into())
        }
        size => Ok(size),
    }
}

impl FetchArgs {
    /// How each request is made, from the command line.
    pub(crate) fn http_settings(&self) -> HttpSettings {
        let mut settings = HttpSettings::default();
        settings.connect_timeout = self.connect_timeout;
        settings.timeout = self.timeout;
        settings.max_bytes = usize::try_from(self.max_bytes).unwrap_or(usize::MAX);
        settings.extraction = if self.no_extract {
            Extraction::Off
        } else if self.head_only {
            Extraction::HeadOnly
        } else {
            Extraction::Full
        };
        settings.insecure = self.insecure;
        settings.headers = self.headers.clone();
        settings.max_redirects = self.max_redirects;
        settings.retries = self.retries;
        settings.dns_servers = self.dns_servers.clone();
        settings.cacert = self.cacert.as_ref().map(|ca| ca.pem.clone());
        settings.http1_only = self.http1_1;
        settings.user_agent = self.user_agent.clone();
        settings.robots = self.robots;
        settings
    }

    fn config(&self) -> FetchConfig {
        // worker_command stays None: this executable is its own worker (abreast's auto-init
        // makes it one).
        let mut config = FetchConfig::default();
        config.mode = self.mode;
        config.concurrency = self.jobs.map(|j| j as usize);
        config.per_host = self.per_host as usize;
        config.rate = self.rate;
        config.workers = self.workers.map(|w| w as usize);
        config.io_threads = self.io_threads.map(|n| n as usize);
        config.ordered = self.ordered;
        config.shard = self.shard;
        config.http = self.http_settings();
        config.grace = self.grace;
        config
    }
}

/// Installs the Ctrl-C story: the first SIGINT raises `stop` (take no new URLs, finish or
/// abandon those in flight, flush, summarize, exit 130); a second one exits at once with 130.
pub fn stop_on_ctrl_c() -> anyhow::Result<StopSignal> {
    let stop = StopSignal::new();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.flag())
            .context("could not install the Ctrl-C handler")?;
        signal_hook::flag::register(signal, stop.flag())
            .context("could not install the Ctrl-C handler")?;
    }
    Ok(stop)
}

/// Runs `abreast fetch`.
pub fn run(args: &FetchArgs) -> anyhow::Result<ExitCode> {
    if let (Some(input), Some(output)) = (&args.input, &args.output) {
        refuse_output_over_input(input, output)?;
    }
    if let (Some(broker), Some(job)) = (&args.broker, &args.job) {
        return crate::collect::run(args, &crate::broker::parse_broker(broker)?, job);
    }
    let config = args.config();
    let format = Format::from(args.format);
    let input: Box<dyn BufRead + Send> = match &args.input {
        None => Box::new(BufReader::new(std::io::stdin())),
        Some(path) if path.as_os_str() == "-" => Box::new(BufReader::new(std::io::stdin())),
        Some(path) => Box::new(BufReader::new(open_url_list(path)?)),
    };
    let (out, done, header): (Box<dyn Write>, ResumeLedger, bool) = match &args.output {
        None => (
            Box::new(std::io::stdout().lock()),
            ResumeLedger::default(),
            true,
        ),
        Some(path) if args.resume => {
            let resumed = open_for_resume(path, format)
                .with_context(|| format!("could not open {} to resume", path.display()))?;
            // A CSV header goes only at the top of a file.
            (Box::new(resumed.file), resumed.ledger, resumed.needs_header)
        }
        Some(path) => {
            // (clap refuses --resume without --output.)
            let file = File::create(path)
                .with_context(|| format!("could not create the output {}", path.display()))?;
            (Box::new(file), ResumeLedger::default(), true)
        }
    };
    let mut writer = RecordWriter::new(BufWriter::with_capacity(256 * 1024, out), format, header)
        .context("could not write the output")?;
    let stop = stop_on_ctrl_c()?;
    let bar = crate::progress::bar(None, &format!("fetch ({})", config.mode));
    let mut on_record = |_: &abreast_fetch::Record, summary: &abreast_fetch::Summary| {
        bar.inc(1);
        if summary.records.is_multiple_of(64) {
            bar.set_message(format!("{} ok, {} failed", summary.ok, summary.failures()));
        }
    };
    let summary = abreast_fetch::run(&config, input, done, &mut writer, &stop, &mut on_record);
    bar.finish_and_clear();
    let summary = summary?;
    eprintln!("abreast fetch: {summary}");
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if summary.failures() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
