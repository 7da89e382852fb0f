//! The four mechanisms, one module each, and the steps they share for one URL.
//!
//! Every mode takes the same four steps for each URL; the modes differ only in where each step
//! runs:
//!
//! | step | shared code | threads | async | hybrid | processes |
//! |---|---|---|---|---|---|
//! | refuse a line that is no fetchable URL | [`Target::fetchable`] | pool thread | coroutine | I/O task | parent |
//! | with `--robots obey`, check the host's robots.txt | [`RobotsGate`] | pool thread | coroutine | I/O task | parent |
//! | take the host's permit (each redirect hop its own host's), fetch | [`HostLimits`], the HTTP clients | pool thread | coroutine | I/O task | parent (permit), worker (fetch) |
//! | extract, make the record | [`finish_record`](crate::page::finish_record) | pool thread | coroutine | extraction pool (I/O task with [`Extraction::Off`](crate::Extraction::Off)) | worker |
//! | a panic fails its own URL, never the run | [`guarded`], [`guarded_async`] | pool thread | coroutine | both | worker (the pool reports it) |
//!
//! A driver reads numbered [`Job`]s and hands each finished record to a [`Delivery`], from
//! whichever thread finished it. Each driver stops taking jobs when the run's intake closes,
//! and gives up the work in flight when the run is cancelled (dropped).

#[path = "async.rs"]
mod r#async;
mod hybrid;
mod processes;
mod robots;
mod threads;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abreast_meta::Extractor;
use futures::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::config::{FetchConfig, FetchError, Mode};
use crate::hosts::{HostLimits, HostPermit, block_on_unless};
use crate::http::Fetched;
use crate::http::asynchronous::AsyncClient;
use crate::input::Target;
use crate::page::finish_record_at;
use crate::record::{ErrorInfo, ErrorKind, Record};
use crate::robots::RobotsPolicy;
pub(crate) use robots::RobotsGate;

/// A numbered target, ready for a driver.
pub(crate) type Job = (u64, Target);

/// Runs `jobs` through the configured mechanism, sending each record as it completes, until the
/// jobs run out or `cancel` fires.
///
/// No driver holds a finished record back while it waits for the next job, so a slow producer
/// (`crawler | abreast fetch -`) still gets each record as it completes. The drivers that read
/// jobs on their own thread hand records on from other threads (threads, hybrid); the ones whose
/// runtime must not block (async, processes) get their jobs as a stream read on a thread of its
/// own.
pub(crate) fn drive(
    config: &FetchConfig,
    jobs: Jobs,
    sender: &flume::Sender<(u64, Record)>,
    cancel: &CancellationToken,
    shared_robots: Option<Arc<dyn crate::SharedRobots>>,
    shared_hosts: Option<Arc<dyn crate::SharedHosts>>,
) -> Result<(), FetchError> {
    let limits = HostLimits::new(config.per_host, config.rate);
    let extractor = config.http.extractor();
    let robots = (config.http.robots == RobotsPolicy::Obey)
        .then(|| Arc::new(RobotsGate::new(config.http.user_agent(), shared_robots)));
    let shared = Shared {
        limits,
        robots,
        hosts: shared_hosts,
        stopping: jobs.intake.stopped.clone(),
        cancel: cancel.clone(),
    };
    match config.mode {
        Mode::Threads => threads::drive(config, jobs, sender, cancel, shared, extractor),
        Mode::Async => {
            let jobs = jobs.into_stream(config.concurrency(), config.mode)?;
            r#async::drive(config, jobs, sender, cancel, shared, extractor)
        }
        Mode::Hybrid => hybrid::drive(config, jobs, sender, cancel, shared, extractor),
        Mode::Processes => {
            let jobs = jobs.into_stream(config.concurrency(), config.mode)?;
            processes::drive(config, jobs, sender, cancel, shared)
        }
    }
}

/// What every URL of a run shares before its request: the per-host limits, and the hosts'
/// robots.txt rules when the run obeys them.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    /// The per-host caps and rates.
    pub(crate) limits: Arc<HostLimits>,
    /// The robots.txt step, with `--robots obey`.
    pub(crate) robots: Option<Arc<RobotsGate>>,
    /// Per-host limits shared with other runs (a broker job's).
    pub(crate) hosts: Option<Arc<dyn crate::SharedHosts>>,
    /// Fires when the run stops taking URLs (a stop, or its end): a request still waiting for
    /// its first permit then is never made.
    pub(crate) stopping: CancellationToken,
    /// Fires when the run ends: a redirect hop stops waiting for its permit then.
    pub(crate) cancel: CancellationToken,
}

/// What the driver shares with the run: whether the intake is closed, and counts.
#[derive(Debug, Default)]
pub(crate) struct Intake {
    /// Set when no further URL may be taken.
    pub(crate) closed: AtomicBool,
    /// URLs handed to the driver.
    pub(crate) taken: AtomicU64,
    /// Lines skipped because they were done already.
    pub(crate) resumed: AtomicU64,
    /// Lines left to other shards.
    pub(crate) other_shards: AtomicU64,
    /// An input error that ended the input early.
    pub(crate) input_error: Mutex<Option<std::io::Error>>,
    /// Fires when the intake closes.
    pub(crate) stopped: CancellationToken,
}

impl Intake {
    /// Counts `job` as taken, unless the intake is closed: then it is not taken.
    pub(crate) fn take(&self, job: Job) -> Option<Job> {
        if self.is_closed() {
            return None;
        }
        self.taken.fetch_add(1, Ordering::SeqCst);
        Some(job)
    }

    /// True once no further URL may be taken.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Takes no further URL, and starts no request that waits for its host's permit.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.stopped.cancel();
    }
}

/// The jobs of a run, read lazily from its input, each counted as taken when a driver gets it.
pub(crate) struct Jobs {
    /// The input, already sharded and resumed.
    pub(crate) inner: Box<dyn Iterator<Item = Job> + Send>,
    /// Closes the intake and counts what was taken.
    pub(crate) intake: Arc<Intake>,
}

impl Iterator for Jobs {
    type Item = Job;

    fn next(&mut self) -> Option<Job> {
        if self.intake.is_closed() {
            return None;
        }
        let job = self.inner.next()?;
        self.intake.take(job)
    }
}

impl Jobs {
    /// The jobs as a stream for a driver on a single-thread runtime: a thread of its own reads up
    /// to `ahead` of them in advance, so waiting for input never stalls the fetches in flight.
    /// Jobs are counted as taken when the stream yields them, and none is yielded once the intake
    /// is closed. The thread ends at the end of the input or, once the stream is dropped, when
    /// it has read one more job.
    fn into_stream(
        self,
        ahead: usize,
        mode: Mode,
    ) -> Result<impl futures::Stream<Item = Job> + Send + 'static, FetchError> {
        use futures::StreamExt;
        let (sender, receiver) = flume::bounded(ahead);
        let Jobs { inner, intake } = self;
        std::thread::Builder::new()
            .name("abreast-fetch-input".into())
            .spawn(move || {
                for job in inner {
                    if sender.send(job).is_err() {
                        break; // the driver is done
                    }
                }
            })
            .map_err(|error| FetchError::setup(mode, "the input thread", error))?;
        Ok(receiver
            .into_stream()
            .map(move |job| intake.take(job))
            .take_while(|job| std::future::ready(job.is_some()))
            .filter_map(std::future::ready))
    }
}

/// Fetches `target` with the async client once its host's permit is granted: the first two
/// steps of the async and hybrid modes. Gives the line, its parsed URL and the outcome; a line
/// that is no fetchable URL gives its record at once. `Ok(None)` when the run stopped before
/// the request could start: it was never made, and the URL gets no record.
pub(crate) async fn fetch_async(
    target: Target,
    client: &AsyncClient,
    shared: &Shared,
) -> Result<Option<(String, Url, Fetched)>, Record> {
    // Taken before the stop, first run after it: nothing of it starts.
    if shared.stopping.is_cancelled() {
        return Ok(None);
    }
    let (line, url) = target.fetchable()?;
    let floor = match &shared.robots {
        None => None,
        Some(gate) => match gate.check_async(&url, client).await {
            Ok(floor) => floor,
            Err(refused) => return Err(Record::failed(line, refused)),
        },
    };
    let Some(first) = start_permit(shared, &url, floor).await else {
        return Ok(None);
    };
    let fetched = {
        let permit = Mutex::new(Some(first));
        // Each redirect's target is checked too, before it is asked for, and waits for its own
        // host's slot and pace (`--per-host`, `--rate`, its `Crawl-delay`).
        let check = |next: Url| {
            let permit = &permit;
            async move {
                // The host left is freed first (its request is over): a task never holds two,
                // so two chains that redirect into each other's hosts cannot wait on each other.
                drop(lock(permit).take());
                let floor = match &shared.robots {
                    None => None,
                    Some(gate) => gate.check_async(&next, client).await?,
                };
                let moved = host_permit(shared, &next, floor).await;
                *lock(permit) = Some(moved);
                Ok(())
            }
        };
        client.fetch_hops(&url, check).await
    };
    Ok(Some((line, url, fetched)))
}

/// Waits for the permit of `url`'s host in this run, with `floor` (its `Crawl-delay`) between
/// two starts, then for its place under the limits shared with other runs, if any; in a job
/// whose robots.txt files are shared with other runs (a broker's workers), also for the host's
/// start job-wide at that delay.
pub(crate) async fn host_permit(shared: &Shared, url: &Url, floor: Option<Duration>) -> HostPermit {
    let host = host_of(url);
    let mut permit = shared.limits.acquire(host, floor).await;
    if let Some(hosts) = &shared.hosts {
        permit = permit.with_shared(hosts.acquire(host).await);
    }
    if let Some(gate) = &shared.robots {
        gate.pace(host, floor).await;
    }
    permit
}

/// [`host_permit`] for a request's first hop: `None` if the run stops taking URLs before the
/// permit comes (a first Ctrl-C, or the run's end). The request is then abandoned, never made,
/// and the run need not wait its grace for it. A redirect hop of a request already made waits
/// on ([`host_permit`]): the request is in flight, and the grace covers it.
pub(crate) async fn start_permit(
    shared: &Shared,
    url: &Url,
    floor: Option<Duration>,
) -> Option<HostPermit> {
    tokio::select! {
        biased;
        () = shared.stopping.cancelled() => None,
        permit = host_permit(shared, url, floor) => Some(permit),
    }
}

/// [`host_permit`], waiting on the calling thread; `None` if `until` fires first (the request is
/// then abandoned, never made). A request's first hop waits until the run stops taking URLs
/// ([`Shared::stopping`], as [`start_permit`]), a later hop until the run ends
/// ([`Shared::cancel`]).
pub(crate) fn host_permit_blocking(
    shared: &Shared,
    url: &Url,
    floor: Option<Duration>,
    until: &CancellationToken,
) -> Option<HostPermit> {
    let host = host_of(url);
    let mut permit = shared.limits.acquire_blocking(host, floor, until)?;
    if let Some(hosts) = &shared.hosts {
        permit = permit.with_shared(block_on_unless(hosts.acquire(host), until)?);
    }
    if let Some(gate) = &shared.robots {
        block_on_unless(gate.pace(host, floor), until)?;
    }
    Some(permit)
}

/// The host whose slot a request for `url` takes (empty for a URL without one).
fn host_of(url: &Url) -> &str {
    url.host_str().unwrap_or_default()
}

/// Locks `permit`, poisoned or not: it only holds a permit.
pub(crate) fn lock(
    permit: &Mutex<Option<HostPermit>>,
) -> std::sync::MutexGuard<'_, Option<HostPermit>> {
    permit.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `step` for the URL of input line `line`; a panic in it becomes that URL's error record
/// instead of ending the run.
pub(crate) fn guarded(line: String, step: impl FnOnce(String) -> Record) -> Record {
    let kept = line.clone();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(line)))
        .unwrap_or_else(|payload| internal_panic(kept, payload.as_ref()))
}

/// [`guarded`] for async steps: `step`'s output, or the error record of input line `line` if
/// it panicked.
pub(crate) async fn guarded_async<T>(
    line: String,
    step: impl Future<Output = T>,
) -> Result<T, Record> {
    std::panic::AssertUnwindSafe(step)
        .catch_unwind()
        .await
        .map_err(|payload| internal_panic(line, payload.as_ref()))
}

/// Extracts `fetched`, the outcome of requesting `url`, with `extractor` (if the run extracts),
/// and makes the record of input line `line`, a panic becoming its error record: the last step
/// of the hybrid mode.
pub(crate) fn finish_guarded(
    line: String,
    url: Url,
    fetched: Fetched,
    extractor: Option<&Extractor>,
) -> Record {
    guarded(line, |line| {
        finish_record_at(line, fetched, Some(url), extractor)
    })
}

/// Where a URL's one record goes, sent by whichever thread finishes the URL, and the URL's
/// slot in the hybrid mode, freed once the record is sent. A delivery dropped unsent (its task
/// was cancelled) sends nothing: the URL then counts as abandoned.
pub(crate) struct Delivery {
    sequence: u64,
    sender: flume::Sender<(u64, Record)>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Delivery {
    pub(crate) fn new(
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

    /// Sends `record`, waiting for room in the run's queue (a blocking thread's way). An error
    /// means the run has ended (interrupted or dropped): the URL is then abandoned.
    pub(crate) fn send(self, record: Record) {
        let _ = self.sender.send((self.sequence, record));
    }

    /// Sends `record`, waiting for room in the run's queue without blocking the runtime.
    pub(crate) async fn send_async(self, record: Record) {
        let _ = self.sender.send_async((self.sequence, record)).await;
    }
}

/// Forwards each `(sequence, record)` of `records` to the run until the stream ends, the run
/// stops listening, or `cancel` fires: the loop of the two modes whose fetches are coroutines
/// on one thread (async, processes).
pub(crate) async fn forward(
    records: impl futures::Stream<Item = (u64, Record)>,
    sender: &flume::Sender<(u64, Record)>,
    cancel: &CancellationToken,
) {
    use futures::StreamExt;
    let mut records = std::pin::pin!(records);
    let send_all = async {
        while let Some(pair) = records.next().await {
            if sender.send_async(pair).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        () = send_all => {}
        () = cancel.cancelled() => {}
    }
}

/// The text of a panic payload: the `&str` or `String` that `panic!` was given.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// The record of a URL whose task panicked.
pub(crate) fn internal_panic(line: String, payload: &(dyn std::any::Any + Send)) -> Record {
    let message = panic_message(payload);
    Record::failed(
        line,
        ErrorInfo::new(
            ErrorKind::Internal,
            format!("internal error: {message} (a bug in abreast; please report it)"),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

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

    #[test]
    fn a_panicking_step_fails_its_own_url() {
        let record = guarded("http://127.0.0.1/p".into(), |_| panic!("boom"));
        assert_eq!(record.url, "http://127.0.0.1/p");
        let error = record.error.unwrap();
        assert_eq!(error.kind, ErrorKind::Internal);
        assert!(error.message.contains("boom"), "{}", error.message);
    }
}
