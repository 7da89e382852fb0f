//! The run: input -> shard filter -> resume skip -> a mechanism's driver -> ordered writer.
//!
//! The driver runs on its own thread; whichever thread finishes a URL (a pool thread, a
//! coroutine) sends its `(sequence, Record)` pair over a bounded channel, and the calling thread
//! writes them (in completion order, or in input order with
//! `ordered`), counts them, and watches the stop signal. On the first stop it lets the driver
//! take no new URL and waits up to the grace period for those in flight; what is still in
//! flight then is abandoned (no record, so `--resume` fetches it again). Every URL taken
//! either gets exactly one record or is counted as abandoned.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, Write};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use abreast::threads::ThreadPool;
use abreast_meta::Extractor;
use futures::{FutureExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// How long the writer lets records gather once it has written every waiting one: each record
/// reaches the output at most this much later.
const WRITER_GATHER: Duration = Duration::from_millis(1);

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
    let _spares = crate::body::SparesFreedAtEnd;
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
    let capacity = 2 * config.concurrency();
    let (sender, receiver) = flume::bounded::<(u64, Record)>(capacity);
    let driver = {
        let driver_config = config.clone();
        std::thread::Builder::new()
            .name("abreast-fetch-driver".into())
            .spawn({
                let intake = Arc::clone(&intake);
                move || drive(&driver_config, Box::new(jobs), &intake, &sender)
            })
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
            // Let records gather before waiting for the next: woken once per batch instead of
            // once per record, this thread costs fewer context switches (on 2 cores, client CPU
            // per page 50 -> 45 µs).
            std::thread::sleep(WRITER_GATHER);
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

/// Runs `jobs` through the configured mechanism, sending each record as it completes. Each
/// driver takes its jobs through `intake`, which counts them and stops at a stop.
///
/// No driver holds a finished record back while it waits for the next input line, so a slow
/// producer on stdin (`crawler | abreast fetch -`) still gets each record as it completes. The
/// drivers that read the input on their own thread hand records on from other threads (threads,
/// hybrid); the ones whose runtime must not block (async, processes) read it on a thread of its
/// own.
fn drive(
    config: &FetchConfig,
    jobs: Box<dyn Iterator<Item = Job> + Send>,
    intake: &Arc<Intake>,
    sender: &flume::Sender<(u64, Record)>,
) -> Result<(), FetchError> {
    let setup = |message: String| FetchError::Setup {
        mode: config.mode,
        message,
    };
    let limits = HostLimits::new(config.per_host, config.rate);
    let extractor = config.http.extractor();
    match config.mode {
        Mode::Threads => {
            let jobs = jobs.map_while(|job| intake.take(job));
            drive_threads(config, jobs, &intake.closed, sender, limits, extractor).map_err(setup)
        }
        Mode::Async => {
            let jobs = job_stream(jobs, intake, config.concurrency()).map_err(setup)?;
            drive_async(config, jobs, sender, limits, extractor).map_err(setup)
        }
        Mode::Hybrid => {
            let pool = ThreadPool::builder()
                .num_threads(config.workers())
                .thread_name(|i| format!("abreast-extract-{i}"))
                .build()
                .map_err(|error| setup(error.to_string()))?;
            let jobs = jobs.map_while(|job| intake.take(job));
            drive_hybrid(config, jobs, sender, limits, extractor, pool).map_err(setup)
        }
        Mode::Processes => {
            let jobs = job_stream(jobs, intake, config.concurrency()).map_err(setup)?;
            crate::processes::drive(config, jobs, sender, limits).map_err(setup)
        }
    }
}

impl Intake {
    /// Counts `job` as taken, unless the intake is closed: then it is not taken.
    fn take(&self, job: Job) -> Option<Job> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        self.taken.fetch_add(1, Ordering::SeqCst);
        Some(job)
    }
}

/// The jobs as a stream for a driver on a single-thread runtime: a thread of its own reads up to
/// `ahead` of them in advance, so waiting for input never stalls the fetches in flight. Jobs are
/// counted as taken when the stream yields them, and none is yielded once the intake is closed.
fn job_stream(
    jobs: Box<dyn Iterator<Item = Job> + Send>,
    intake: &Arc<Intake>,
    ahead: usize,
) -> Result<impl futures::Stream<Item = Job> + Send + 'static, String> {
    let (sender, receiver) = flume::bounded(ahead);
    std::thread::Builder::new()
        .name("abreast-fetch-input".into())
        .spawn(move || {
            for job in jobs {
                if sender.send(job).is_err() {
                    break; // the driver is done
                }
            }
        })
        .map_err(|error| format!("could not start the input thread: {error}"))?;
    let intake = Arc::clone(intake);
    Ok(receiver
        .into_stream()
        .map(move |job| intake.take(job))
        .take_while(|job| std::future::ready(job.is_some()))
        .filter_map(std::future::ready))
}

/// `threads`: a pool of `-j` threads, each fetching with the blocking client and extracting.
/// This thread reads the input and submits one task per URL; each task sends its own record.
/// After a stop (`closed`), the tasks still queued are cancelled: they count as abandoned.
fn drive_threads(
    config: &FetchConfig,
    jobs: impl Iterator<Item = Job>,
    closed: &AtomicBool,
    sender: &flume::Sender<(u64, Record)>,
    limits: Arc<HostLimits>,
    extractor: Extractor,
) -> Result<(), String> {
    let concurrency = config.concurrency();
    let pool = ThreadPool::builder()
        .num_threads(concurrency)
        .queue_bound(concurrency)
        .thread_name(|i| format!("abreast-fetch-{i}"))
        .stack_size(1024 * 1024)
        .build()
        .map_err(|error| error.to_string())?;
    let client = Arc::new(BlockingClient::new(config.http.clone()));
    let extractor = Arc::new(extractor);
    for (sequence, target) in jobs {
        let delivery = Delivery::new(sequence, sender, None);
        let (client, limits, extractor) = (
            Arc::clone(&client),
            Arc::clone(&limits),
            Arc::clone(&extractor),
        );
        // The handle is not kept: the task sends its own record.
        let _handle = pool.submit(move || {
            let line = target.line.clone();
            let fetched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                refused(&target).unwrap_or_else(|| {
                    let _permit = limits.acquire_blocking(target.host().unwrap_or_default());
                    let url = target.url.as_ref().expect("refused() handled errors");
                    let mut record = finish_record(client.fetch(url.as_str()), &extractor);
                    record.url = target.line;
                    record
                })
            }));
            delivery.send(fetched.unwrap_or_else(|payload| internal_panic(line, payload.as_ref())));
        });
    }
    if closed.load(Ordering::SeqCst) {
        pool.shutdown_now();
    } else {
        pool.shutdown();
    }
    Ok(())
}

/// `async`: `-j` coroutines on one thread that fetch and extract: the explainer's second
/// program.
fn drive_async(
    config: &FetchConfig,
    jobs: impl futures::Stream<Item = Job>,
    sender: &flume::Sender<(u64, Record)>,
    limits: Arc<HostLimits>,
    extractor: Extractor,
) -> Result<(), String> {
    let client = AsyncClient::new(config.http.clone()).map_err(|error| error.to_string())?;
    let fetch_one = |(sequence, target): Job| {
        let line = target.line.clone();
        let work = async {
            if let Some(record) = refused(&target) {
                return record;
            }
            let url = target.url.as_ref().expect("refused() handled errors");
            let fetched = {
                let _permit = limits.acquire(target.host().unwrap_or_default()).await;
                client.fetch(url.as_str()).await
            };
            let mut record = finish_record(fetched, &extractor);
            record.url = target.line;
            record
        };
        // A panic in this code fails its own URL, never the run.
        async move {
            let record = std::panic::AssertUnwindSafe(work)
                .catch_unwind()
                .await
                .unwrap_or_else(|payload| internal_panic(line, payload.as_ref()));
            (sequence, record)
        }
    };
    let forward = async {
        let mut records =
            std::pin::pin!(jobs.map(fetch_one).buffer_unordered(config.concurrency()));
        while let Some(pair) = records.next().await {
            if sender.send_async(pair).await.is_err() {
                break;
            }
        }
    };
    abreast::coroutines::run(forward)
        .map_err(|error| format!("could not start the async runtime: {error}"))
}

/// `hybrid`: each fetch is a task on a multi-thread runtime of `io_threads`; its page is then
/// extracted on `pool`, which sends the record to the writer itself, so the network and the CPU
/// never wait for each other and a page crosses threads only twice (I/O to extraction to
/// writer).
///
/// At most `-j` URLs are in flight, from the start of their fetch to the sending of their
/// record: each holds a slot of a semaphore. This thread, which reads the input, takes free slots
/// a batch at a time, so it wakes once per batch of finished pages rather than once per page.
fn drive_hybrid(
    config: &FetchConfig,
    mut jobs: impl Iterator<Item = Job>,
    sender: &flume::Sender<(u64, Record)>,
    limits: Arc<HostLimits>,
    extractor: Extractor,
    pool: ThreadPool,
) -> Result<(), String> {
    let client =
        Arc::new(AsyncClient::new(config.http.clone()).map_err(|error| error.to_string())?);
    let (extractor, pool) = (Arc::new(extractor), Arc::new(pool));
    let concurrency = config.concurrency();
    let slots = Arc::new(Semaphore::new(concurrency));
    let batch = u32::try_from((concurrency / 8).clamp(1, 32)).unwrap_or(1);
    let forward = async {
        'feed: while let Ok(mut free) = Arc::clone(&slots).acquire_many_owned(batch).await {
            while let Some(slot) = free.split(1) {
                let Some((sequence, target)) = jobs.next() else {
                    break 'feed;
                };
                tokio::spawn(fetch_then_extract(
                    target,
                    Delivery::new(sequence, sender, Some(slot)),
                    Arc::clone(&client),
                    Arc::clone(&limits),
                    Arc::clone(&extractor),
                    Arc::clone(&pool),
                ));
            }
        }
        // Every slot back means every URL taken has sent its record.
        let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all).await;
    };
    abreast::coroutines::run_multi_thread(config.io_threads(), forward)
        .map_err(|error| format!("could not start the async runtime: {error}"))
}

/// One hybrid task: fetch `target` on the runtime, then extract it on `pool`, which sends the
/// record.
async fn fetch_then_extract(
    target: Target,
    delivery: Delivery,
    client: Arc<AsyncClient>,
    limits: Arc<HostLimits>,
    extractor: Arc<Extractor>,
    pool: Arc<ThreadPool>,
) {
    if let Some(record) = refused(&target) {
        return delivery.send_async(record).await;
    }
    let url = target.url.as_ref().expect("refused() handled errors");
    let fetch = async {
        let _permit = limits.acquire(target.host().unwrap_or_default()).await;
        client.fetch(url.as_str()).await
    };
    // A panic in this code fails its own URL, never the run.
    let fetched = match std::panic::AssertUnwindSafe(fetch).catch_unwind().await {
        Ok(fetched) => fetched,
        Err(payload) => {
            let record = internal_panic(target.line, payload.as_ref());
            return delivery.send_async(record).await;
        }
    };
    let line = target.line;
    // The handle is not awaited: the task sends its own record.
    let _handle = pool
        .submit_async(move || {
            let extracted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                finish_record(fetched, &extractor)
            }));
            let record = match extracted {
                Ok(mut record) => {
                    record.url = line;
                    record
                }
                Err(payload) => internal_panic(line, payload.as_ref()),
            };
            delivery.send(record);
        })
        .await;
}

/// Where a URL's one record goes, sent by whichever thread finishes the URL, and the URL's
/// slot in the hybrid mode, freed once the record is sent. A delivery dropped unsent (its task
/// was cancelled at shutdown) sends nothing: the URL then counts as abandoned.
struct Delivery {
    sequence: u64,
    sender: flume::Sender<(u64, Record)>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Delivery {
    fn new(
        sequence: u64,
        sender: &flume::Sender<(u64, Record)>,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Delivery {
        Delivery {
            sequence,
            sender: sender.clone(),
            _slot: slot,
        }
    }

    /// Sends `record`, waiting for room in the writer's queue (a blocking thread's way). An
    /// error means the writer has stopped (interrupted): the URL is then abandoned.
    fn send(self, record: Record) {
        let _ = self.sender.send((self.sequence, record));
    }

    /// Sends `record`, waiting for room in the writer's queue without blocking the runtime.
    async fn send_async(self, record: Record) {
        let _ = self.sender.send_async((self.sequence, record)).await;
    }
}

/// The record of a URL whose task panicked.
fn internal_panic(line: String, payload: &(dyn std::any::Any + Send)) -> Record {
    let message = abreast_panic_message(payload);
    Record::failed(line, ErrorKind::Http, format!("internal error: {message}"))
}

/// The text of a panic payload.
fn abreast_panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_sends_its_record_then_frees_its_slot() {
        let (sender, receiver) = flume::unbounded();
        let slots = Arc::new(Semaphore::new(1));
        let slot = Arc::clone(&slots).try_acquire_owned().unwrap();
        Delivery::new(7, &sender, Some(slot)).send(Record::empty("http://127.0.0.1/x"));
        assert_eq!(slots.available_permits(), 1);
        let (sequence, record) = receiver.try_recv().unwrap();
        assert_eq!((sequence, record.url.as_str()), (7, "http://127.0.0.1/x"));
        let slot = Arc::clone(&slots).try_acquire_owned().unwrap();
        drop(Delivery::new(8, &sender, Some(slot)));
        assert_eq!(
            slots.available_permits(),
            1,
            "a dropped delivery keeps its slot"
        );
        assert!(
            receiver.try_recv().is_err(),
            "a dropped delivery sent a record"
        );
    }
}
