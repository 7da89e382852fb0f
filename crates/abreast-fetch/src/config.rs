//! What a run is told: the mechanism ([`Mode`]), its limits and HTTP settings ([`FetchConfig`]),
//! the stop request shared with a signal handler ([`StopSignal`]), and why a run could not start
//! or finish ([`FetchError`]).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::http::HttpSettings;
use crate::shard::Shard;

/// Which mechanism fetches and extracts (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A thread pool of blocking HTTP requests and extraction: the explainer's first program.
    Threads,
    /// Coroutines on one thread with an async client: the explainer's second program.
    Async,
    /// A process pool whose workers fetch and extract: the explainer's third program.
    Processes,
    /// Async I/O feeding extraction on a thread pool, so network and CPU never wait for each
    /// other. The default.
    #[default]
    Hybrid,
}

impl Mode {
    /// Every mode, in the order the docs list them.
    pub const ALL: [Mode; 4] = [Mode::Threads, Mode::Async, Mode::Processes, Mode::Hybrid];

    /// The mode's name, as `--mode`, the JSON and the bench write it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Threads => "threads",
            Mode::Async => "async",
            Mode::Processes => "processes",
            Mode::Hybrid => "hybrid",
        }
    }

    /// Requests in flight at once when `-j` is not given: 64 threads; 256 coroutines; four
    /// worker processes per CPU.
    pub fn default_concurrency(self) -> usize {
        match self {
            Mode::Threads => 64,
            Mode::Async | Mode::Hybrid => 256,
            Mode::Processes => 4 * abreast_cpus(),
        }
    }
}

fn abreast_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--mode` that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mode {0:?}: use threads, async, processes or hybrid")]
pub struct ModeParseError(String);

impl FromStr for Mode {
    type Err = ModeParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.name() == text)
            .ok_or_else(|| ModeParseError(text.to_owned()))
    }
}

/// The slowest `--rate` taken: one request start per host every 11.6 days (10⁶ s). A slower
/// one is refused by the CLI and Python (its wait would overflow a clock), and taken as this
/// by [`fetch`](crate::fetch).
pub const SLOWEST_RATE: f64 = 1e-6;

/// Everything a run needs besides its input and output.
///
/// Start from the defaults and set what differs; the struct is `#[non_exhaustive]`, so a field
/// added later breaks no caller:
///
/// ```
/// use abreast_fetch::{FetchConfig, Mode};
///
/// let mut config = FetchConfig::default();
/// config.mode = Mode::Async;
/// config.concurrency = Some(200);
/// config.http.max_redirects = 3;
/// assert_eq!(config.concurrency(), 200);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchConfig {
    /// The mechanism.
    pub mode: Mode,
    /// Requests in flight at once (`-j`); `None`: the mode's default.
    pub concurrency: Option<usize>,
    /// Requests in flight at once to one host (`--per-host`, default 8).
    pub per_host: usize,
    /// Request starts per second to one host (`--rate`), unlimited if `None`; a rate below
    /// [`SLOWEST_RATE`] is taken as that.
    pub rate: Option<f64>,
    /// Extraction threads (hybrid) or worker processes' CPU share; `None`: one per two CPUs
    /// (hybrid), one per CPU (processes).
    pub workers: Option<usize>,
    /// Threads of the hybrid mode's I/O runtime; `None`: one per two CPUs.
    pub io_threads: Option<usize>,
    /// Write records in input order (`--ordered`) instead of as they complete. After a stop,
    /// the records end at the first URL abandoned (one not started, or still in flight when
    /// the grace ran out): the order cannot go on past it.
    pub ordered: bool,
    /// Only this shard of the input (`--shard K/N`).
    pub shard: Option<Shard>,
    /// How each request is made.
    pub http: HttpSettings,
    /// After a stop, how long to wait for the requests under way before abandoning them (a
    /// request still waiting for its host's slot or rate is abandoned at once).
    pub grace: Duration,
    /// Processes mode: how a worker process starts; `None`: this executable started again,
    /// which must run `abreast::processes::init()` first (the default `auto-init` feature does).
    /// A host that does not link abreast into its own executable, such as a Python
    /// interpreter, names a command that loads it (see [`abreast::processes::WorkerCommand`]).
    pub worker_command: Option<abreast::processes::WorkerCommand>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            mode: Mode::default(),
            concurrency: None,
            per_host: 8,
            rate: None,
            workers: None,
            io_threads: None,
            ordered: false,
            shard: None,
            http: HttpSettings::default(),
            grace: Duration::from_secs(3),
            worker_command: None,
        }
    }
}

impl FetchConfig {
    /// Requests in flight at once for this run.
    pub fn concurrency(&self) -> usize {
        self.concurrency
            .unwrap_or_else(|| self.mode.default_concurrency())
            .max(1)
    }

    /// CPU workers for this run: as given, else in hybrid mode one extraction thread per two
    /// CPUs (the other half does the I/O; extracting a page costs about as much CPU as fetching
    /// it), in processes mode one worker per CPU.
    pub fn workers(&self) -> usize {
        let default = match self.mode {
            Mode::Hybrid => abreast_cpus() / 2,
            _ => abreast_cpus(),
        };
        self.workers.unwrap_or(default).max(1)
    }

    /// Threads of the hybrid mode's I/O runtime: as given, else one per two CPUs (at least one).
    pub fn io_threads(&self) -> usize {
        self.io_threads.unwrap_or(abreast_cpus() / 2).max(1)
    }
}

/// A run could not start, could not read its input, or could not write its output. A URL that
/// fails is never one of these: it is a [`Record`](crate::Record) with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Reading the input failed.
    #[error("could not read the input: {0}")]
    Input(#[source] std::io::Error),
    /// Writing the output failed (disk full, closed pipe…).
    #[error("could not write the output: {0}")]
    Output(#[source] std::io::Error),
    /// The settings hold what no request can go out with (a header value with a line break, a
    /// `--cacert` that is not certificates): refused before the run starts, in every mode.
    #[error(transparent)]
    Settings(#[from] crate::SettingsError),
    /// The mechanism could not be set up (threads, runtime, HTTP client, worker processes).
    #[error("could not start the {mode} mode: {what}: {source}")]
    Setup {
        /// The mode that failed.
        mode: Mode,
        /// What could not be started.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The thread that drives the mechanism panicked: a bug in abreast; please report it.
    #[error(
        "the {mode} mode's driver thread panicked: {message} (a bug in abreast; please report it)"
    )]
    DriverPanicked {
        /// The mode whose driver panicked.
        mode: Mode,
        /// The panic's message.
        message: String,
    },
}

impl FetchError {
    /// A setup error of `mode`: `what` could not be started, because of `source`.
    pub(crate) fn setup(
        mode: Mode,
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> FetchError {
        FetchError::Setup {
            mode,
            what,
            source: source.into(),
        }
    }
}

/// A stop request shared with a signal handler: the first Ctrl-C sets it.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// A signal not yet raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// The flag itself, for `signal_hook::flag::register`.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }

    /// Raises the signal.
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once raised.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Resolves once raised, on a tokio runtime with its timer: for racing a call that may
    /// wait long (an unanswering server) against the stop. It looks every 50 ms, since a signal
    /// handler can only set the flag.
    pub async fn raised(&self) {
        while !self.is_raised() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Sleeps `wait`, waking early once raised (as [`raised`](Self::raised) sees it): true if
    /// it was.
    pub async fn sleep(&self, wait: std::time::Duration) -> bool {
        tokio::select! {
            biased;
            () = self.raised() => true,
            () = tokio::time::sleep(wait) => false,
        }
    }
}
