//! The explainer's threading program, written with abreast: a thread pool maps
//! `download_site` over the URLs, each thread with the same pooled blocking client.
//!
//! Run it against the local test site (started here, with 50 ms of latency, when no base URL is
//! given): `cargo run --release -p abreast-fetch --example threads_fetch [BASE_URL]`.

mod support;

use std::sync::Arc;
use std::time::Instant;

use abreast::threads::ThreadPool;
use abreast_fetch::HttpSettings;
use abreast_fetch::http::blocking::BlockingClient;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_site, base) = support::site_or_argument()?;
    let sites = support::sites(&base);

    let start = Instant::now();
    let client = Arc::new(BlockingClient::new(HttpSettings::default()));
    let pool = ThreadPool::builder().num_threads(64).build()?;
    let download_site = move |url: String| client.fetch(&url).body.map(|body| body.bytes.len());
    let mut downloaded = 0;
    for outcome in pool.map(download_site, sites.clone()) {
        if outcome?.is_ok() {
            downloaded += 1;
        }
    }
    support::report(downloaded, sites.len(), start);
    Ok(())
}
