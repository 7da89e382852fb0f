//! `processes`: the explainer's third program. Worker processes fetch (with the blocking
//! client) and extract; the parent only schedules.
//!
//! The parent runs the per-host limits and the global cap as coroutines on one thread: each
//! URL waits for its host's slot, is submitted to the [`ProcessPool`] without blocking, and its
//! record is awaited. A worker that crashes fails only its URL (the record says so) and is
//! replaced. Each worker keeps one blocking client, so its connections are reused across tasks,
//! and a page alone on its host goes to the worker that fetched the host last unless that worker
//! is busy ([`ProcessPool::submit_async_with_affinity`]), so a host's pages share a connection.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use url::Url;

use abreast::processes::ProcessPool;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Job, Shared, forward, host_permit, start_permit};
use crate::config::{FetchConfig, FetchError};
use crate::http::asynchronous::AsyncClient;
use crate::http::blocking::BlockingClient;
use crate::http::dns::Resolver;
use crate::http::{Fetched, HopTerms, Hops, HttpSettings};
use crate::page::finish_record_at;
use crate::record::{ErrorInfo, ErrorKind, Record};

/// What a worker needs to fetch one URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PageJob {
    /// The input line, as the record names it.
    pub(crate) line: String,
    /// The parsed URL (a hop of its redirect chain, with `--robots obey`).
    pub(crate) url: String,
    /// The run's HTTP settings.
    pub(crate) settings: HttpSettings,
    /// Its place in its redirect chain: whether the chain left its first host (credentials are
    /// then not sent), and what is left of the chain's time limit.
    pub(crate) terms: HopTerms,
    /// The URL's host name and its addresses, as the parent looked them up once for all the
    /// workers (none for a host written as an address).
    pub(crate) addresses: Option<(String, Vec<IpAddr>)>,
}

/// What a worker gives back for a [`PageJob`], as JSON text: the pool's frames are postcard,
/// which cannot carry the JSON-LD values or the untagged card entries of a record, while JSON
/// carries exactly what the record's writer writes.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum PageOutcome {
    /// The URL's record.
    Record(String),
    /// A redirect its client stopped at (`--robots obey`): the hop's [`Fetched`], for the
    /// parent to check the target against its robots.txt and send the next hop.
    Redirect(String),
}

/// The client of this worker process, made on its first task and kept for the next ones.
static CLIENT: Mutex<Option<Arc<BlockingClient>>> = Mutex::new(None);

fn worker_client(settings: &HttpSettings) -> Result<Arc<BlockingClient>, ErrorInfo> {
    let mut client = CLIENT.lock().unwrap_or_else(|p| p.into_inner());
    match client.as_ref() {
        Some(existing) if existing.settings() == settings => Ok(Arc::clone(existing)),
        _ => {
            let fresh = BlockingClient::new(settings.clone())
                .map_err(|error| ErrorInfo::new(ErrorKind::Tls, format!("--cacert: {error}")))?;
            let fresh = Arc::new(fresh);
            *client = Some(Arc::clone(&fresh));
            Ok(fresh)
        }
    }
}

/// Fetches one page and extracts its metadata, in a worker process. A panic here is caught by
/// the pool and reported as the task's error, which becomes the URL's record.
#[abreast::task]
pub(crate) fn fetch_page(job: PageJob) -> PageOutcome {
    let json = |record: &Record| serde_json::to_string(record).expect("a record serializes");
    let client = match worker_client(&job.settings) {
        Ok(client) => client,
        Err(error) => return PageOutcome::Record(json(&Record::failed(job.line, error))),
    };
    if let Some((host, addresses)) = &job.addresses {
        client.seed(host, addresses);
    }
    let fetched = client.fetch_hop(&job.url, job.terms);
    if fetched.redirect_to.is_some() {
        let hop = serde_json::to_string(&fetched).expect("a fetch's outcome serializes");
        return PageOutcome::Redirect(hop);
    }
    let extractor = job.settings.extractor();
    let record = finish_record_at(job.line, fetched, None, extractor.as_ref());
    PageOutcome::Record(json(&record))
}

/// The addresses of `url`'s host for its job (none for a host written as an address), or, for
/// a name that does not resolve, the outcome a worker's fetch would have had: a `dns` error.
async fn addresses_of(
    resolver: &Resolver,
    url: &Url,
) -> Result<Option<(String, Vec<IpAddr>)>, Fetched> {
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    match resolver.lookup(host).await {
        Ok(addresses) => Ok(Some((host.to_owned(), addresses.to_vec()))),
        Err(error) => Err(Fetched::unresolved(
            url.to_string(),
            &error,
            started.elapsed(),
        )),
    }
}

/// The affinity key of `url`'s origin (scheme, host, port: what a pooled connection serves).
fn origin_key(url: &Url) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let origin = (url.scheme(), url.host_str(), url.port_or_known_default());
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(origin)
}

/// The record of input line `line` when a worker's `what` did not parse (`error`).
fn internal(line: &str, what: &str, error: &serde_json::Error) -> Record {
    let message = format!("internal error: the worker's {what} did not parse: {error}");
    Record::failed(line, ErrorInfo::new(ErrorKind::Internal, message))
}

/// Runs the jobs through a process pool of `-j` workers.
pub(super) fn drive(
    config: &FetchConfig,
    jobs: impl futures::Stream<Item = Job>,
    sender: &flume::Sender<(u64, Record)>,
    cancel: &CancellationToken,
    shared: Shared,
) -> Result<(), FetchError> {
    let concurrency = config.concurrency();
    let mut builder = ProcessPool::builder().workers(concurrency);
    if let Some(command) = &config.worker_command {
        builder = builder.worker_command(command.clone());
    }
    let pool = builder
        .build()
        .map_err(|error| FetchError::setup(config.mode, "the worker processes", error))?;
    // robots.txt is fetched here, in the parent, once per host for all the workers.
    let robots = match &shared.robots {
        Some(gate) => {
            let client = AsyncClient::new(config.http.clone())
                .map_err(|error| FetchError::setup(config.mode, "the HTTP client", error))?;
            Some((Arc::clone(gate), client))
        }
        None => None,
    };
    let resolver = config.http.resolver();
    let (workers, shared, settings, robots, resolver) =
        (&pool, &shared, &config.http, &robots, &resolver);
    // `None` for a URL whose request never started: the run stopped first.
    let fetch_one = |(sequence, target): Job| async move {
        // Taken before the stop, first run after it: nothing of it starts.
        if shared.stopping.is_cancelled() {
            return None;
        }
        let (line, url) = match target.fetchable() {
            Ok(fetchable) => fetchable,
            Err(refused) => return Some((sequence, refused)),
        };
        let floor = match robots {
            None => None,
            Some((gate, client)) => match gate.check_async(&url, client).await {
                Ok(floor) => floor,
                Err(refused) => return Some((sequence, Record::failed(line, refused))),
            },
        };
        let mut permit = start_permit(shared, &url, floor).await?;
        // With `--robots obey` the workers stop at redirects: each hop's target is checked
        // here, then sent to a worker as a job of its own.
        let mut hops = Hops::new(&url, settings);
        let mut hop = url;
        let record = loop {
            // The host is looked up here, once for all the workers; a name that does not
            // resolve is its `dns` record at once.
            let addresses = match addresses_of(resolver, &hop).await {
                Ok(addresses) => addresses,
                Err(unresolved) => break finish_record_at(line, hops.end(unresolved), None, None),
            };
            // Alone on its host, a page goes to the worker that fetched its origin last, whose
            // connection to it is idle now. Beside others, it goes to any free worker.
            let key = permit.alone().then(|| origin_key(&hop));
            let job = PageJob {
                line: line.clone(),
                url: hop.into(),
                settings: settings.clone(),
                terms: hops.terms(),
                addresses,
            };
            let submitted = match key {
                Some(key) => {
                    workers
                        .submit_async_with_affinity(key, fetch_page, job)
                        .await
                }
                None => workers.submit_async(fetch_page, job).await,
            };
            let fetched = match submitted.await {
                Ok(PageOutcome::Record(json)) => {
                    break match serde_json::from_str::<Record>(&json) {
                        Ok(mut record) => {
                            let (attempts, elapsed_ms) = hops.so_far();
                            record.attempts =
                                crate::http::chain_attempts(attempts, record.attempts);
                            record.elapsed_ms += elapsed_ms;
                            record
                        }
                        Err(error) => internal(&line, "record", &error),
                    };
                }
                Ok(PageOutcome::Redirect(json)) => match serde_json::from_str::<Fetched>(&json) {
                    Ok(fetched) => fetched,
                    Err(error) => break internal(&line, "redirect", &error),
                },
                Err(error) => {
                    // The task panicked, or the worker died under this URL (the pool has
                    // replaced it), or it could not be sent: one error record.
                    let kind = if error.is_timeout() {
                        ErrorKind::Timeout
                    } else if error.is_panic() || error.is_codec() {
                        ErrorKind::Internal
                    } else {
                        ErrorKind::Http
                    };
                    let message = format!("worker process failed: {error}");
                    break Record::failed(line, ErrorInfo::new(kind, message));
                }
            };
            let next = match hops.after(fetched) {
                Ok(outcome) => break finish_record_at(line, outcome, None, None),
                Err(next) => next,
            };
            // The hop waits for its own host's slot and pace, the host left freed first.
            drop(permit);
            let floor = match robots {
                None => None,
                Some((gate, client)) => match gate.check_async(&next, client).await {
                    Ok(floor) => floor,
                    Err(refused) => {
                        break finish_record_at(line, hops.refused(&next, refused), None, None);
                    }
                },
            };
            permit = host_permit(shared, &next, floor).await;
            hop = next;
        };
        Some((sequence, record))
    };
    let records = jobs
        .map(fetch_one)
        .buffer_unordered(concurrency)
        .filter_map(std::future::ready);
    abreast::coroutines::run(forward(records, sender, cancel))
        .map_err(|error| FetchError::setup(config.mode, "the async runtime", error))?;
    if cancel.is_cancelled() {
        pool.shutdown_now();
    } else {
        pool.shutdown();
    }
    Ok(())
}
