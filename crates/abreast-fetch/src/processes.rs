//! `processes`: the explainer's third program. Worker processes fetch (with the blocking
//! client) and extract; the parent only schedules.
//!
//! The parent runs the per-host limits and the global cap as coroutines on one thread: each
//! URL waits for its host's slot, is submitted to the [`ProcessPool`] without blocking, and its
//! record is awaited. A worker that crashes fails only its URL (the record says so) and is
//! replaced. Each worker keeps one blocking client, so its connections are reused across tasks.

use std::sync::{Arc, Mutex};

use abreast::processes::ProcessPool;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::blocking::BlockingClient;
use crate::hosts::HostLimits;
use crate::http::{HttpSettings, finish_record};
use crate::input::Target;
use crate::pipeline::FetchConfig;
use crate::record::{ErrorKind, Record};

/// What a worker needs to fetch one URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageJob {
    /// The input line, as the record names it.
    pub line: String,
    /// The parsed URL.
    pub url: String,
    /// The run's HTTP settings.
    pub settings: HttpSettings,
}

/// The client of this worker process, made on its first task and kept for the next ones.
static CLIENT: Mutex<Option<Arc<BlockingClient>>> = Mutex::new(None);

fn worker_client(settings: &HttpSettings) -> Arc<BlockingClient> {
    let mut client = CLIENT.lock().unwrap_or_else(|p| p.into_inner());
    match client.as_ref() {
        Some(existing) if existing.settings() == settings => Arc::clone(existing),
        _ => {
            let fresh = Arc::new(BlockingClient::new(settings.clone()));
            *client = Some(Arc::clone(&fresh));
            fresh
        }
    }
}

/// Fetches one page and extracts its metadata, in a worker process.
#[abreast::task]
pub fn fetch_page(job: PageJob) -> Record {
    let client = worker_client(&job.settings);
    let mut record = finish_record(client.fetch(&job.url), &job.settings.extractor());
    record.url = job.line;
    record
}

/// Runs the jobs through a process pool of `-j` workers.
pub(crate) fn drive(
    config: &FetchConfig,
    jobs: impl futures::Stream<Item = (u64, Target)>,
    sender: &flume::Sender<(u64, Record)>,
    limits: Arc<HostLimits>,
) -> Result<(), String> {
    let concurrency = config.concurrency();
    let pool = ProcessPool::builder()
        .workers(concurrency)
        .build()
        .map_err(|error| format!("could not start {concurrency} worker processes: {error}"))?;
    let settings = &config.http;
    let fetch_one = |(sequence, target): (u64, Target)| {
        let (pool, limits) = (&pool, &limits);
        async move {
            let url = match &target.url {
                Err((kind, message)) => {
                    return (
                        sequence,
                        Record::failed(target.line, *kind, message.clone()),
                    );
                }
                Ok(url) => url.to_string(),
            };
            let _permit = limits.acquire(target.host().unwrap_or_default()).await;
            let job = PageJob {
                line: target.line.clone(),
                url,
                settings: settings.clone(),
            };
            let record = pool
                .submit_async(fetch_page, job)
                .await
                .await
                .unwrap_or_else(|error| {
                    // The worker died under this URL (or it could not be sent): one error
                    // record; the pool has replaced the worker.
                    let kind = if error.is_timeout() {
                        ErrorKind::Timeout
                    } else {
                        ErrorKind::Http
                    };
                    Record::failed(target.line, kind, format!("worker process failed: {error}"))
                });
            (sequence, record)
        }
    };
    abreast::coroutines::run(async {
        let mut records = std::pin::pin!(jobs.map(fetch_one).buffer_unordered(concurrency));
        while let Some(pair) = records.next().await {
            if sender.send_async(pair).await.is_err() {
                break;
            }
        }
    })
    .map_err(|error| format!("could not start the async runtime: {error}"))?;
    pool.shutdown();
    Ok(())
}
