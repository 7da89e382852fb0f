//! `threads`: the explainer's first program. A [`ThreadPool`] of `-j` threads, each fetching
//! with the blocking client and extracting on the same thread.
//!
//! The driver thread reads the jobs and submits one task per URL; each task sends its own
//! record, so none waits for the next input line. When the intake closes (a stop) or the run is
//! cancelled, the tasks still queued are cancelled (they count as abandoned) and the pool is
//! joined: a request in flight ends within its time limit.

use std::sync::{Arc, Mutex};

use abreast::threads::ThreadPool;
use abreast_meta::Extractor;
use tokio_util::sync::CancellationToken;

use super::{Delivery, Jobs, Shared, guarded, host_permit_blocking, lock};
use crate::config::{FetchConfig, FetchError};
use crate::http::blocking::BlockingClient;
use crate::page::finish_record_at;
use crate::record::{ErrorInfo, ErrorKind, Record};

/// Runs `jobs` on a pool of `-j` threads.
pub(super) fn drive(
    config: &FetchConfig,
    jobs: Jobs,
    sender: &flume::Sender<(u64, Record)>,
    cancel: &CancellationToken,
    shared: Shared,
    extractor: Option<Extractor>,
) -> Result<(), FetchError> {
    let concurrency = config.concurrency();
    let pool = ThreadPool::builder()
        .num_threads(concurrency)
        .queue_bound(concurrency)
        .thread_name(|i| format!("abreast-fetch-{i}"))
        .stack_size(1024 * 1024)
        .build()
        .map_err(|error| FetchError::setup(config.mode, "the thread pool", error))?;
    let client = BlockingClient::new(config.http.clone())
        .map_err(|error| FetchError::setup(config.mode, "the HTTP client", error))?;
    let client = Arc::new(client);
    let shared = Arc::new(shared);
    let extractor = Arc::new(extractor);
    let intake = Arc::clone(&jobs.intake);
    for (sequence, target) in jobs {
        if cancel.is_cancelled() {
            break;
        }
        let delivery = Delivery::new(sequence, sender, None);
        let (client, shared, extractor) = (
            Arc::clone(&client),
            Arc::clone(&shared),
            Arc::clone(&extractor),
        );
        // The handle is not kept: the task sends its own record.
        let _handle = pool.submit(move || {
            // Queued before the stop, run after it: nothing of it starts.
            if shared.stopping.is_cancelled() {
                return;
            }
            // Set when the run stopped (or ended) before a request could start: nothing is
            // sent then.
            let abandoned = std::cell::Cell::new(false);
            let record = guarded(target.line.clone(), |_| match target.fetchable() {
                Err(refused) => refused,
                Ok((line, url)) => {
                    let floor = match &shared.robots {
                        None => None,
                        Some(gate) => match gate.check_blocking(&url, &client) {
                            Ok(floor) => floor,
                            Err(refused) => return Record::failed(line, refused),
                        },
                    };
                    let fetched = {
                        let first = host_permit_blocking(&shared, &url, floor, &shared.stopping);
                        let Some(first) = first else {
                            abandoned.set(true);
                            return Record::failed(line, run_ended());
                        };
                        let permit = Mutex::new(Some(first));
                        // Each redirect's target is checked too, before it is asked for, and
                        // waits for its own host's slot and pace, the host left freed first.
                        client.fetch_hops(&url, |next| {
                            drop(lock(&permit).take());
                            let floor = match &shared.robots {
                                None => None,
                                Some(gate) => gate.check_blocking(next, &client)?,
                            };
                            let moved = host_permit_blocking(&shared, next, floor, &shared.cancel);
                            let Some(moved) = moved else {
                                abandoned.set(true);
                                return Err(run_ended());
                            };
                            *lock(&permit) = Some(moved);
                            Ok(())
                        })
                    };
                    finish_record_at(line, fetched, Some(url), (*extractor).as_ref())
                }
            });
            if !abandoned.get() {
                delivery.send(record);
            }
        });
    }
    if intake.is_closed() || cancel.is_cancelled() {
        pool.shutdown_now();
    } else {
        pool.shutdown();
    }
    Ok(())
}

/// Why a request that never started has no record: its run ended while it waited.
fn run_ended() -> ErrorInfo {
    ErrorInfo::new(
        ErrorKind::Http,
        "the run ended before the request could start",
    )
}
