//! `async`: the explainer's second program. `-j` coroutines on one thread, each fetching with
//! the async client and extracting on the same thread.

use abreast_meta::Extractor;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{Job, Shared, fetch_async, forward, guarded_async};
use crate::config::{FetchConfig, FetchError};
use crate::http::asynchronous::AsyncClient;
use crate::page::finish_record_at;
use crate::record::Record;

/// Runs `jobs` as `-j` coroutines on a current-thread runtime.
pub(super) fn drive(
    config: &FetchConfig,
    jobs: impl futures::Stream<Item = Job>,
    sender: &flume::Sender<(u64, Record)>,
    cancel: &CancellationToken,
    shared: Shared,
    extractor: Option<Extractor>,
) -> Result<(), FetchError> {
    let client = AsyncClient::new(config.http.clone())
        .map_err(|error| FetchError::setup(config.mode, "the HTTP client", error))?;
    let (client, shared, extractor) = (&client, &shared, extractor.as_ref());
    // `None` for a URL whose request never started: the run stopped first.
    let fetch_one = |(sequence, target): Job| async move {
        let record = guarded_async(target.line.clone(), async move {
            match fetch_async(target, client, shared).await {
                Ok(Some((line, url, fetched))) => {
                    Some(finish_record_at(line, fetched, Some(url), extractor))
                }
                Ok(None) => None,
                Err(refused) => Some(refused),
            }
        })
        .await;
        Some((sequence, record.unwrap_or_else(Some)?))
    };
    let records = jobs
        .map(fetch_one)
        .buffer_unordered(config.concurrency())
        .filter_map(std::future::ready);
    abreast::coroutines::run(forward(records, sender, cancel))
        .map_err(|error| FetchError::setup(config.mode, "the async runtime", error))
}
