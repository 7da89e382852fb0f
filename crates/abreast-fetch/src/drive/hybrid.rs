//! `hybrid` (the default): async I/O feeding extraction on a thread pool, so the network and
//! the CPU never wait for each other.
//!
//! Each fetch is a task on a runtime of `--io-threads`; its page is then extracted
//! on a [`ThreadPool`] of `--workers`, which sends the record to the run itself, so a page
//! crosses threads only twice (I/O to extraction to the run). A run that extracts nothing
//! ([`Extraction::Off`](crate::http::body::Extraction::Off)) has no extraction pool: its tasks
//! send their records themselves.
//!
//! At most `-j` URLs are in flight, from the start of their fetch to the sending of their
//! record: each holds a slot of a semaphore. The driver, which reads the jobs, takes free slots
//! a batch at a time, so it wakes once per batch of finished pages rather than once per page.
//!
//! With one I/O thread (the default on up to three CPUs), the runtime is a current-thread one
//! on the driver's own thread, and the jobs are read on a thread of their own, as in the async
//! mode, so a slow input never stalls the fetches. A multi-thread runtime of one worker, fed
//! from the driver's thread, would hand every fetch it spawns to another thread and pay for a
//! scheduler that has no second worker to balance. With more I/O threads the driver reads the
//! jobs itself and spawns the fetches on a multi-thread runtime of that many workers.

use std::pin::{Pin, pin};
use std::sync::Arc;

use abreast::threads::ThreadPool;
use abreast_meta::Extractor;
use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{Delivery, Job, Jobs, Shared, fetch_async, finish_guarded, guarded_async};
use crate::config::{FetchConfig, FetchError};
use crate::http::asynchronous::AsyncClient;
use crate::input::Target;
use crate::record::Record;

/// Runs `jobs` as fetch tasks on an async runtime feeding an extraction pool.
pub(super) fn drive(
    config: &FetchConfig,
    jobs: Jobs,
    sender: &flume::Sender<(u64, Record)>,
    cancel: &CancellationToken,
    shared: Shared,
    extractor: Option<Extractor>,
) -> Result<(), FetchError> {
    let shared = Arc::new(shared);
    let extraction = match extractor {
        Some(extractor) => {
            let pool = ThreadPool::builder()
                .num_threads(config.workers())
                .thread_name(|i| format!("abreast-extract-{i}"))
                .build()
                .map_err(|error| FetchError::setup(config.mode, "the extraction pool", error))?;
            Some((Arc::new(extractor), Arc::new(pool)))
        }
        None => None,
    };
    let client = AsyncClient::new(config.http.clone())
        .map_err(|error| FetchError::setup(config.mode, "the HTTP client", error))?;
    let client = Arc::new(client);
    let concurrency = config.concurrency();
    let spawn = |(sequence, target): Job, slot| {
        tokio::spawn(fetch_then_extract(
            target,
            Delivery::new(sequence, sender, Some(slot)),
            Arc::clone(&client),
            Arc::clone(&shared),
            extraction.clone(),
        ));
    };
    // Cancelled, the runtime is dropped with its tasks: their fetches stop where they wait.
    let ran = if config.io_threads() == 1 {
        let jobs = pin!(jobs.into_stream(concurrency, config.mode)?);
        abreast::coroutines::run(until(cancel, feed(jobs, concurrency, &spawn)))
    } else {
        // Read here, on the driver's thread, which the runtime's workers do not need.
        let jobs = pin!(futures::stream::iter(jobs));
        let work = until(cancel, feed(jobs, concurrency, &spawn));
        abreast::coroutines::run_multi_thread(config.io_threads(), work)
    };
    ran.map_err(|error| FetchError::setup(config.mode, "the async runtime", error))
}

/// Runs `work` until it ends or `cancel` fires.
async fn until(cancel: &CancellationToken, work: impl Future<Output = ()>) {
    tokio::select! {
        () = work => {}
        () = cancel.cancelled() => {}
    }
}

/// Spawns a task for each of `jobs` while fewer than `concurrency` are in flight, each holding
/// a slot until its record is sent, then waits for every slot to come back.
async fn feed(
    mut jobs: Pin<&mut impl Stream<Item = Job>>,
    concurrency: usize,
    spawn: impl Fn(Job, OwnedSemaphorePermit),
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let batch = u32::try_from((concurrency / 8).clamp(1, 32)).unwrap_or(1);
    'feed: while let Ok(mut free) = Arc::clone(&slots).acquire_many_owned(batch).await {
        while let Some(slot) = free.split(1) {
            let Some(job) = jobs.next().await else {
                break 'feed;
            };
            spawn(job, slot);
        }
    }
    // Every slot back means every URL taken has sent its record.
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// One hybrid task: fetch `target` on the runtime, then extract it with the extractor on the
/// pool of `extraction`, which sends the record; with no extraction, the task sends it. The jobs
/// on the pool hold the extractor, never the pool.
async fn fetch_then_extract(
    target: Target,
    delivery: Delivery,
    client: Arc<AsyncClient>,
    shared: Arc<Shared>,
    extraction: Option<(Arc<Extractor>, Arc<ThreadPool>)>,
) {
    // The fetch's future (reqwest's, the body sink) is large; boxed, the task stays small, so
    // spawning the task and storing its end copy a few hundred bytes instead of all of it.
    let line = target.line.clone();
    let fetch = Box::pin(fetch_async(target, &client, &shared));
    let record = match guarded_async(line, fetch).await {
        // The run stopped before the request could start: the delivery goes unsent.
        Ok(Ok(None)) => return,
        Ok(Ok(Some((line, url, fetched)))) => {
            let Some((extractor, pool)) = extraction else {
                delivery
                    .send_async(finish_guarded(line, url, fetched, None))
                    .await;
                return;
            };
            // The handle is not awaited: the task sends its own record.
            let _handle = pool
                .submit_async(move || {
                    delivery.send(finish_guarded(line, url, fetched, Some(&extractor)));
                })
                .await;
            return;
        }
        Ok(Err(refused)) => refused,
        Err(panicked) => panicked,
    };
    delivery.send_async(record).await;
}
