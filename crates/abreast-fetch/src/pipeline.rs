//! The run: input -> shard filter -> resume skip -> a mechanism's driver -> ordered writer.
//!
//! The driver runs on its own thread and sends `(sequence, Record)` pairs over a bounded
//! channel; the calling thread writes them (in completion order, or in input order with
//! `ordered`), counts them, and watches the stop signal. On the first stop it lets the driver
//! take no new URL and waits up to the grace period for those in flight; what is still in
//! flight then is abandoned (no record, so `--resume` fetches it again). Every URL taken
//! either gets exactly one record or is counted as abandoned.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{BufRead, Write};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use abreast::threads::ThreadPool;
use abreast_meta::Extractor;
use futures::{FutureExt, StreamExt};

use crate::asynchronous::AsyncClient;
use crate::blocking::BlockingClient;
use crate::hosts::HostLimits;
use crate::http::{HttpSettings, finish_record};
use crate::input::{Target, targets};
use crate::output::{Done, RecordWriter};
use crate::record::{ErrorKind, Record};
use crate::shard::Shard;
use crate::summary::Summary;

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

/// Everything a run needs besides its input and output.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// The mechanism.
    pub mode: Mode,
    /// Requests in flight at once (`-j`); `None`: the mode's default.
    pub concurrency: Option<usize>,
    /// Requests in flight at once to one host (`--per-host`, default 8).
    pub per_host: usize,
    /// Request starts per second to one host (`--rate`), unlimited if `None`.
    pub rate: Option<f64>,
    /// Extraction threads (hybrid) or worker processes' CPU share; `None`: one per two CPUs
    /// (hybrid), one per CPU (processes).
    pub workers: Option<usize>,
    /// Threads of the hybrid mode's I/O runtime; `None`: one per two CPUs.
    pub io_threads: Option<usize>,
    /// Write records in input order (`--ordered`) instead of as they complete.
    pub ordered: bool,
    /// Only this shard of the input (`--shard K/N`).
    pub shard: Option<Shard>,
    /// How each request is made.
    pub http: HttpSettings,
    /// After a stop, how long to wait for the URLs in flight before abandoning them.
    pub grace: Duration,
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

/// A run could not start or could not write its output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Reading the input failed.
    #[error("could not read the input: {0}")]
    Input(#[source] std::io::Error),
    /// Writing the output failed (disk full, closed pipe…).
    #[error("could not write the output: {0}")]
    Output(#[source] std::io::Error),
    /// The mechanism could not be set up (threads, runtime, HTTP client, worker processes).
    #[error("could not start the {mode} mode: {message}")]
    Setup {
        /// The mode that failed.
        mode: Mode,
        /// What failed.
        message: String,
    },
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
}

/// What the driver thread shares with the writer.
#[derive(Debug, Default)]
struct Intake {
    /// Set when no further URL may be taken.
    closed: AtomicBool,
    /// URLs handed to the driver.
    taken: AtomicU64,
    /// An input error that ended the input early.
    input_error: Mutex<Option<std::io::Error>>,
}

/// A numbered target, ready for a driver.
type Job = (u64, Target);

/// One run of the fetch pipeline: input to driver to ordered writer, every taken URL getting
/// exactly one record or being counted as abandoned after a stop. `on_record` sees each record
/// after it is written (progress bars hook in here).
pub fn run<R, W>(
    config: &FetchConfig,
    input: R,
    mut done: Done,
    writer: &mut RecordWriter<W>,
    stop: &StopSignal,
    on_record: &mut dyn FnMut(&Record, &Summary),
) -> Result<Summary, FetchError>
where
    R: BufRead + Send + 'static,
    W: Write,
{
    let started = Instant::now();
    let intake = Arc::new(Intake::default());
    let mut summary = Summary::default();
    let (resumed, other_shards) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let jobs = {
        let (intake, resumed, other_shards) = (
            Arc::clone(&intake),
            Arc::clone(&resumed),
            Arc::clone(&other_shards),
        );
        let shard = config.shard;
        let mut sequence = 0u64;
        targets(input)
            .map_while(move |line| {
                if intake.closed.load(Ordering::SeqCst) {
                    return None;
                }
                match line {
                    Ok(target) => Some(Some(target)),
                    Err(error) => {
                        *intake.input_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                        None
                    }
                }
            })
            .flatten()
            .filter_map(move |target| {
                if shard.is_some_and(|shard| !shard.contains(&target)) {
                    other_shards.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                if done.take(&target.line) {
                    resumed.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                sequence += 1;
                Some((sequence - 1, target))
            })
    };
    let jobs = {
        let intake = Arc::clone(&intake);
        jobs.inspect(move |_| {
            intake.taken.fetch_add(1, Ordering::SeqCst);
        })
    };
    let capacity = 2 * config.concurrency();
    let (sender, receiver) = flume::bounded::<(u64, Record)>(capacity);
    let driver = {
        let driver_config = config.clone();
        std::thread::Builder::new()
            .name("abreast-fetch-driver".into())
            .spawn(move || drive(&driver_config, Box::new(jobs), &sender))
            .map_err(|error| FetchError::Setup {
                mode: config.mode,
                message: format!("could not start the driver thread: {error}"),
            })?
    };

    let mut reorder: BTreeMap<u64, Record> = BTreeMap::new();
    let mut next_to_write = 0u64;
    let mut grace_deadline: Option<Instant> = None;
    let write = |record: &Record, writer: &mut RecordWriter<W>, summary: &mut Summary| {
        writer.write(record).map_err(FetchError::Output)?;
        summary.count(record);
        Ok::<(), FetchError>(())
    };
    loop {
        if grace_deadline.is_none() && stop.is_raised() {
            intake.closed.store(true, Ordering::SeqCst);
            grace_deadline = Some(Instant::now() + config.grace);
        }
        if grace_deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        let (sequence, record) = match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(pair) => pair,
            Err(flume::RecvTimeoutError::Timeout) => continue,
            Err(flume::RecvTimeoutError::Disconnected) => break,
        };
        if config.ordered {
            reorder.insert(sequence, record);
            while let Some(record) = reorder.remove(&next_to_write) {
                write(&record, writer, &mut summary)?;
                on_record(&record, &summary);
                next_to_write += 1;
            }
        } else {
            write(&record, writer, &mut summary)?;
            on_record(&record, &summary);
        }
        if receiver.is_empty() {
            writer.flush().map_err(FetchError::Output)?;
        }
    }
    writer.flush().map_err(FetchError::Output)?;
    let interrupted = grace_deadline.is_some();
    if !interrupted {
        match driver.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(FetchError::Setup {
                    mode: config.mode,
                    message: "the driver thread panicked".into(),
                });
            }
        }
        if let Some(error) = intake
            .input_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(FetchError::Input(error));
        }
    }
    summary.interrupted = interrupted;
    summary.abandoned = intake.taken.load(Ordering::SeqCst) - summary.records;
    summary.resumed = resumed.load(Ordering::Relaxed);
    summary.other_shards = other_shards.load(Ordering::Relaxed);
    summary.finish(started.elapsed());
    Ok(summary)
}

/// The record of a line that cannot be fetched, or `None` if it can.
fn refused(target: &Target) -> Option<Record> {
    target
        .url
        .as_ref()
        .err()
        .map(|(kind, message)| Record::failed(target.line.clone(), *kind, message.clone()))
}

/// The record for a task that failed inside the mechanism itself (a panic in abreast's code).
fn internal_failure(line: String, error: &abreast::TaskError) -> Record {
    Record::failed(line, ErrorKind::Http, format!("internal error: {error}"))
}

/// Runs `jobs` through the configured mechanism, sending each record as it completes.
fn drive(
    config: &FetchConfig,
    jobs: Box<dyn Iterator<Item = Job> + Send>,
    sender: &flume::Sender<(u64, Record)>,
) -> Result<(), FetchError> {
    let setup = |message: String| FetchError::Setup {
        mode: config.mode,
        message,
    };
    let limits = HostLimits::new(config.per_host, config.rate);
    let extractor = config.http.extractor();
    match config.mode {
        Mode::Threads => drive_threads(config, jobs, sender, limits, extractor).map_err(setup),
        Mode::Async => drive_async(config, jobs, sender, limits, extractor, None).map_err(setup),
        Mode::Hybrid => {
            let pool = ThreadPool::builder()
                .num_threads(config.workers())
                .thread_name(|i| format!("abreast-extract-{i}"))
                .build()
                .map_err(|error| setup(error.to_string()))?;
            drive_async(
                config,
                jobs,
                sender,
                limits,
                extractor,
                Some(Arc::new(pool)),
            )
            .map_err(setup)
        }
        Mode::Processes => crate::processes::drive(config, jobs, sender, limits).map_err(setup),
    }
}

/// `threads`: a pool of `-j` threads, each fetching with the blocking client and extracting.
fn drive_threads(
    config: &FetchConfig,
    jobs: Box<dyn Iterator<Item = Job> + Send>,
    sender: &flume::Sender<(u64, Record)>,
    limits: Arc<HostLimits>,
    extractor: Extractor,
) -> Result<(), String> {
    let concurrency = config.concurrency();
    let pool = ThreadPool::builder()
        .num_threads(concurrency)
        .thread_name(|i| format!("abreast-fetch-{i}"))
        .stack_size(1024 * 1024)
        .build()
        .map_err(|error| error.to_string())?;
    let client = BlockingClient::new(config.http.clone());
    // Lines in flight, so a task that fails inside the pool still yields its record.
    let in_flight: Arc<Mutex<HashMap<u64, String>>> = Arc::default();
    let jobs = jobs.inspect({
        let in_flight = Arc::clone(&in_flight);
        move |(sequence, target)| {
            in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(*sequence, target.line.clone());
        }
    });
    let work = move |(sequence, target): Job| {
        let record = refused(&target).unwrap_or_else(|| {
            let _permit = limits.acquire_blocking(target.host().unwrap_or_default());
            let url = target.url.as_ref().expect("refused() handled errors");
            let mut record = finish_record(client.fetch(url.as_str()), &extractor);
            record.url = target.line;
            record
        });
        (sequence, record)
    };
    for (index, outcome) in pool
        .map_unordered(work, jobs)
        .window(concurrency)
        .chunksize(1)
        .indexed()
    {
        // Jobs enter the map in sequence order, so a job's map index is its sequence number.
        let sequence = index as u64;
        let line = in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&sequence)
            .unwrap_or_default();
        let record = match outcome {
            Ok((_, record)) => record,
            Err(error) => internal_failure(line, &error),
        };
        if sender.send((sequence, record)).is_err() {
            break; // the writer stopped (interrupted): take nothing more
        }
    }
    Ok(())
}

/// `async`: `-j` coroutines on one thread that fetch and extract. `hybrid` (with an extraction
/// pool): each fetch is a task on a multi-thread runtime of `io_threads`, and extraction runs on
/// the pool, so the network and the CPU never wait for each other.
fn drive_async(
    config: &FetchConfig,
    jobs: Box<dyn Iterator<Item = Job> + Send>,
    sender: &flume::Sender<(u64, Record)>,
    limits: Arc<HostLimits>,
    extractor: Extractor,
    extraction_pool: Option<Arc<ThreadPool>>,
) -> Result<(), String> {
    let client =
        Arc::new(AsyncClient::new(config.http.clone()).map_err(|error| error.to_string())?);
    let extractor = Arc::new(extractor);
    let hybrid = extraction_pool.is_some();
    let fetch_one = move |(sequence, target): Job| {
        let (client, limits, extractor, pool) = (
            Arc::clone(&client),
            Arc::clone(&limits),
            Arc::clone(&extractor),
            extraction_pool.clone(),
        );
        let line = target.line.clone();
        let work = async move {
            if let Some(record) = refused(&target) {
                return record;
            }
            let url = target.url.as_ref().expect("refused() handled errors");
            let fetched = {
                let _permit = limits.acquire(target.host().unwrap_or_default()).await;
                client.fetch(url.as_str()).await
            };
            let line = target.line;
            let mut record = match pool {
                None => finish_record(fetched, &extractor),
                Some(pool) => abreast::coroutines::run_blocking(&pool, move || {
                    finish_record(fetched, &extractor)
                })
                .await
                .unwrap_or_else(|error| internal_failure(line.clone(), &error)),
            };
            record.url = line;
            record
        };
        // A panic in this code fails its own URL, never the run.
        async move {
            let record = std::panic::AssertUnwindSafe(work)
                .catch_unwind()
                .await
                .unwrap_or_else(|payload| {
                    let message = abreast_panic_message(payload.as_ref());
                    Record::failed(line, ErrorKind::Http, format!("internal error: {message}"))
                });
            (sequence, record)
        }
    };
    let concurrency = config.concurrency();
    let forward = async move {
        let jobs = futures::stream::iter(jobs);
        let mut records = if hybrid {
            jobs.map(|job| tokio::spawn(fetch_one(job)))
                .buffer_unordered(concurrency)
                // The task catches its own panics, so joining fails only on abort, never here.
                .filter_map(|joined| std::future::ready(joined.ok()))
                .boxed()
        } else {
            jobs.map(fetch_one).buffer_unordered(concurrency).boxed()
        };
        while let Some(pair) = records.next().await {
            if sender.send_async(pair).await.is_err() {
                break;
            }
        }
    };
    let outcome = if hybrid {
        abreast::coroutines::run_multi_thread(config.io_threads(), forward)
    } else {
        abreast::coroutines::run(forward)
    };
    outcome.map_err(|error| format!("could not start the async runtime: {error}"))
}

/// The text of a panic payload.
fn abreast_panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}
